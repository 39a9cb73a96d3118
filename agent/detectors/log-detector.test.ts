import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { AUTH_LOG_STALE_MS, NO_SSH_SOURCE, chooseSshSource, createLogDetector } from "./log-detector.js";
import { newLineStats } from "./line-processor.js";

const processor = () => ({ stats: newLineStats(), line() {}, tick() {}, finish() {}, record() {} });

describe("SSH source auto", function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-auto-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const auto = () => ({ type: "auto" as const, path: join(dir, "auth.log"), units: ["ssh"] });
  const yes = async () => true;
  const no = async () => false;

  it("chooses a fresh auth log; journald when the log is missing or stale and journald has sshd; no source when neither", async () => {
    const now = Date.now();
    expect(await chooseSshSource(auto(), yes, now)).to.deep.equal({ type: "journald", units: ["ssh"] });
    expect(await chooseSshSource(auto(), no, now)).to.deep.equal({ type: "file", path: join(dir, "auth.log"), blindDetail: NO_SSH_SOURCE });
    writeFileSync(join(dir, "auth.log"), "");
    expect(await chooseSshSource(auto(), yes, now)).to.deep.equal({ type: "file", path: join(dir, "auth.log") });
    const old = (now - AUTH_LOG_STALE_MS - 60_000) / 1000;
    utimesSync(join(dir, "auth.log"), old, old);
    expect(await chooseSshSource(auto(), yes, now)).to.deep.equal({ type: "journald", units: ["ssh"] });
    expect(await chooseSshSource(auto(), no, now), "a stale log is still better than nothing").to.deep.equal({ type: "file", path: join(dir, "auth.log") });
  });

  it("with no source, switches to journald once sshd appears there", async () => {
    let sshdInJournal = false;
    const detector = createLogDetector({
      name: "ssh-brute-force",
      kinds: [AlertKind.SSH_BRUTE_FORCE],
      source: auto(),
      maxLineBytes: 1024,
      pollMs: 100,
      journalProbe: async () => sshdInJournal,
      autoReprobeMs: 100,
      makeProcessor: processor,
    });
    await detector.start({ emit: () => {}, onFailure: () => {}, logger: silentLogger(), now: Date.now });
    try {
      expect(detector.source()).to.deep.include({ kind: "file", state: "no_source", detail: NO_SSH_SOURCE });
      sshdInJournal = true;
      const deadline = Date.now() + 10_000;
      while (detector.source().kind !== "journald" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // journalctl runs (following) or, where it is not installed, is unreadable: either way the source is journald now.
      expect(detector.source().kind).to.equal("journald");
    } finally {
      await detector.stop();
    }
  });
});
