import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { Answer, ResponseActionSchema, ResultStatus, type ActionResult, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { openStateDb } from "../outbox/state-db.js";
import { createOutbox } from "../outbox/outbox.js";
import type { ResponderResult, Responder } from "../responders/responder.js";
import { createActionExecutor } from "./action-executor.js";
import { createJournal } from "./journal.js";

function action(actionId: string, answer: Answer): ResponseAction {
  return create(ResponseActionSchema, { actionId, answer });
}

function recordingResponder(answers: Answer[], outcome: () => Promise<ResponderResult>): Responder & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: "recording",
    answers,
    calls,
    async execute(a) {
      calls.push(a.actionId);
      return outcome();
    },
  };
}

describe("action executor", () => {
  let dir: string;
  let db: ReturnType<typeof openStateDb>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-exec-"));
    db = openStateDb(dir);
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(responders: Map<Answer, Responder>, bootId = "boot-1") {
    const sent: ActionResult[] = [];
    const journal = createJournal({ db, now: () => 42_000, bootId });
    const outbox = createOutbox({ db, now: () => 42_000 });
    const executor = createActionExecutor({ journal, outbox, responders, send: (r) => sent.push(r), bootId, logger: silentLogger(), now: () => 42_000 });
    return { sent, journal, outbox, executor };
  }

  it("executes once and answers redeliveries with the stored result", async () => {
    const responder = recordingResponder([Answer.BLOCK_IP], async () => ({ status: ResultStatus.DONE, detail: "blocked", expiresAt: new Date(99_000) }));
    const { sent, outbox, executor } = setup(new Map([[Answer.BLOCK_IP, responder]]));
    await executor.handle(action("a1", Answer.BLOCK_IP));
    await executor.handle(action("a1", Answer.BLOCK_IP));
    expect(responder.calls).to.deep.equal(["a1"]);
    expect(sent.map((r) => [r.actionId, r.status, r.detail])).to.deep.equal([
      ["a1", ResultStatus.DONE, "blocked"],
      ["a1", ResultStatus.DONE, "blocked"],
    ]);
    expect(Number(sent[0]!.expiresAt?.seconds)).to.equal(99);
    expect(outbox.pendingResultIds()).to.deep.equal(["a1"]);
    executor.acknowledged("a1");
    expect(outbox.depth()).to.equal(0);
  });

  it("does not start a second execution while the first still runs", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const responder = recordingResponder([Answer.REBOOT], async () => {
      await gate;
      return { status: ResultStatus.DONE, detail: "rebooting" };
    });
    const { sent, executor } = setup(new Map([[Answer.REBOOT, responder]]));
    const first = executor.handle(action("r1", Answer.REBOOT));
    const second = executor.handle(action("r1", Answer.REBOOT));
    expect(executor.running()).to.equal(1);
    release();
    await Promise.all([first, second]);
    expect(responder.calls).to.have.length(1);
    expect(sent).to.have.length(1);
  });

  it("refuses answers without a responder and turns a throwing responder into FAILED", async () => {
    const thrower: Responder = {
      name: "broken",
      answers: [Answer.KILL_PROCESS],
      execute: async () => {
        throw new Error("boom");
      },
    };
    const { sent, executor } = setup(new Map([[Answer.KILL_PROCESS, thrower]]));
    await executor.handle(action("u1", Answer.SHUTDOWN));
    await executor.handle(action("u2", Answer.UNSPECIFIED));
    await executor.handle(action("k1", Answer.KILL_PROCESS));
    expect(sent.map((r) => r.status)).to.deep.equal([ResultStatus.REFUSED, ResultStatus.REFUSED, ResultStatus.FAILED]);
    expect(sent[0]!.detail).to.equal("refused: answer SHUTDOWN is not supported by this agent");
    expect(sent[2]!.detail).to.contain("boom");
  });

  it("never re-executes an action begun by an earlier run", async () => {
    const responder = recordingResponder([Answer.BLOCK_IP], async () => ({ status: ResultStatus.DONE, detail: "blocked" }));
    createJournal({ db, now: () => 1, bootId: "boot-1" }).begin(action("b1", Answer.BLOCK_IP));
    const { sent, executor } = setup(new Map([[Answer.BLOCK_IP, responder]]));
    await executor.handle(action("b1", Answer.BLOCK_IP));
    expect(responder.calls).to.have.length(0);
    expect(sent[0]!.status).to.equal(ResultStatus.FAILED);
    expect(sent[0]!.detail).to.match(/outcome unknown/);
  });
});
