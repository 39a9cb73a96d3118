import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { AlertKind, AlertSchema, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { createAlertRateLimit } from "./alert-rate-limit.js";

function alert(id: string, kind: AlertKind, revision = 1): Alert {
  return create(AlertSchema, { id, revision, kind, state: AlertState.OPEN, summary: id });
}

function folded(a: Alert) {
  if (a.subject.case !== "alertsFolded") throw new Error(`not a digest: ${a.subject.case}`);
  return a.subject.value;
}

describe("alert rate limit", () => {
  function setup(maxPerMinute: number) {
    const clock = { now: 1_000_000 };
    const out: Alert[] = [];
    const limit = createAlertRateLimit({ maxPerMinute, forward: (a) => out.push(a), now: () => clock.now, periodMs: 60_000 });
    return { clock, out, limit, digests: () => out.filter((a) => a.kind === AlertKind.ALERTS_FOLDED) };
  }

  it("passes alerts up to the limit, folds the rest into one digest counted by kind, resolved a period after the flood", () => {
    const { clock, out, limit, digests } = setup(10);
    for (let i = 0; i < 25; i++) limit.offer(alert(`a${i}`, i % 5 === 0 ? AlertKind.SSH_BRUTE_FORCE : AlertKind.HTTP_404_BURST));
    const passed = out.filter((a) => a.kind !== AlertKind.ALERTS_FOLDED);
    expect(passed.map((a) => a.id)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `a${i}`));
    // The digest is sent at the first folded alert, then revised by the timer.
    expect(digests()).to.have.length(1);
    expect(folded(digests()[0]!).count).to.equal(1);
    clock.now += 30_000;
    limit.tick();
    const revised = digests().at(-1)!;
    expect(revised.revision).to.equal(2);
    expect(revised.state).to.equal(AlertState.OPEN);
    expect(folded(revised).count).to.equal(15);
    expect(folded(revised).kinds.map((k) => [k.kind, k.count])).to.deep.equal([
      [AlertKind.HTTP_404_BURST, 12],
      [AlertKind.SSH_BRUTE_FORCE, 3],
    ]);
    expect(limit.folded()).to.equal(15);
    clock.now += 30_000;
    limit.tick();
    const last = digests().at(-1)!;
    expect(last.state).to.equal(AlertState.RESOLVED);
    expect(last.id).to.equal(digests()[0]!.id);
    expect(folded(last).count).to.equal(15);
    expect(folded(last).maxPerMinute).to.equal(10);
  });

  it("later revisions of a passed alert pass; those of a folded one stay in the digest", () => {
    const { out, limit } = setup(1);
    limit.offer(alert("first", AlertKind.SSH_SESSION));
    limit.offer(alert("second", AlertKind.SSH_SESSION));
    const before = out.length;
    limit.offer(alert("first", AlertKind.SSH_SESSION, 2));
    limit.offer(alert("second", AlertKind.SSH_SESSION, 2));
    expect(out.slice(before).map((a) => `${a.id}#${a.revision}`)).to.deep.equal(["first#2"]);
    expect(limit.folded()).to.equal(1);
    limit.close();
  });

  it("refills at maxPerMinute a minute: after a quiet half minute, half the limit passes again", () => {
    const { clock, out, limit } = setup(20);
    for (let i = 0; i < 20; i++) limit.offer(alert(`x${i}`, AlertKind.CPU_SUSTAINED));
    clock.now += 30_000;
    for (let i = 0; i < 20; i++) limit.offer(alert(`y${i}`, AlertKind.CPU_SUSTAINED));
    expect(out.filter((a) => a.id.startsWith("y")).length).to.equal(10);
    expect(limit.folded()).to.equal(10);
    limit.close();
  });

  it("close sends the counts not yet sent", () => {
    const { out, limit, digests } = setup(1);
    for (let i = 0; i < 5; i++) limit.offer(alert(`z${i}`, AlertKind.HTTP_404_BURST));
    limit.close();
    expect(folded(digests().at(-1)!).count).to.equal(4);
    expect(out.length).to.equal(1 + 2);
  });
});
