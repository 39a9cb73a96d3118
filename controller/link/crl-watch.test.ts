import { X509Certificate } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { createCrl } from "../../cli/certs/crl.js";
import { createCa, issueAgentCertificate, type IssuedCertificate } from "../../cli/certs/pki.js";
import { captureLog, type CapturedLog } from "../../test/support/controller-harness.js";
import { watchCrlFile, type CrlWatch } from "./crl-watch.js";
import { parseRevocationList, type RevocationList } from "./revocation-list.js";

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("controller CRL file watch", function () {
  this.timeout(20_000);
  let ca: IssuedCertificate;
  let agents: X509Certificate[];
  let dir: string;
  let path: string;
  let log: CapturedLog;
  let watch: CrlWatch | undefined;
  let seen: RevocationList[];

  const revoking = async (...certs: X509Certificate[]) => createCrl(ca, certs.map((cert) => ({ serial: cert.serialNumber.toLowerCase(), date: new Date(Date.now() - 1_000) })));
  const errors = () => log.matching("the CRL file is not usable");
  async function start(options: { fsWatch?: boolean; pollMs?: number } = {}): Promise<void> {
    writeFileSync(path, await revoking());
    const current = await parseRevocationList(await revoking(), ca.cert, Date.now());
    watch = watchCrlFile({ path, ca: Buffer.from(ca.cert), current, logger: log.logger, now: Date.now, onChange: (list) => seen.push(list), retryMs: 200, ...options });
  }

  before(async () => {
    ca = await createCa({ commonName: "Watch test CA" });
    agents = await Promise.all(["w-1", "w-2"].map(async (name) => new X509Certificate((await issueAgentCertificate(ca, { name })).cert)));
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-crl-watch-"));
    path = join(dir, "crl.pem");
    log = captureLog();
    seen = [];
  });
  afterEach(() => {
    watch?.stop();
    watch = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("sees a CRL rewritten in place and one replaced by rename, each once", async () => {
    await start();
    writeFileSync(path, await revoking(agents[0]!));
    const first = await until("the in-place rewrite", () => seen[0]);
    expect([first.isRevoked(agents[0]!), first.isRevoked(agents[1]!)]).to.deep.equal([true, false]);

    const next = join(dir, "crl.pem.new");
    const both = await revoking(agents[0]!, agents[1]!);
    writeFileSync(next, both);
    renameSync(next, path);
    const second = await until("the rename", () => seen[1]);
    expect([second.isRevoked(agents[0]!), second.isRevoked(agents[1]!)]).to.deep.equal([true, true]);

    // Same bytes again (a touch, a copy of the same file): nothing new.
    writeFileSync(path, both);
    await watch!.check();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).to.have.length(2);
    expect(log.matching("CRL reloaded")).to.have.length(2);
  });

  it("keeps the previous CRL when the new file is broken, logs it once, and takes the next good one", async () => {
    await start();
    writeFileSync(path, "-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n");
    await until("the error", () => errors()[0]);
    // Polls and watch events on the same broken bytes do not log again.
    await watch!.check();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(errors()).to.have.length(1);
    expect(String(errors()[0]!.reason)).to.match(/cannot be decoded/);
    expect(seen).to.deep.equal([]);

    // Unreadable (removed): logged, still nothing applied.
    unlinkSync(path);
    await until("the unreadable file", () => log.matching("cannot read")[0]);
    expect(seen).to.deep.equal([]);

    writeFileSync(path, await revoking(agents[1]!));
    const list = await until("the good CRL", () => seen[0]);
    expect(list.isRevoked(agents[1]!)).to.equal(true);
    expect(errors()).to.have.length(2);
  });

  it("does not log a CRL caught half written, only applies it once complete", async () => {
    await start({ fsWatch: false, pollMs: 100 });
    const whole = await revoking(agents[0]!);
    writeFileSync(path, whole.slice(0, 100));
    await watch!.check();
    writeFileSync(path, whole);
    const list = await until("the completed file", () => seen[0]);
    expect(list.isRevoked(agents[0]!)).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(errors()).to.deep.equal([]);
  });

  it("finds a change by polling mtime, size and inode when fs.watch is not used", async () => {
    await start({ fsWatch: false, pollMs: 100 });
    writeFileSync(path, await revoking(agents[1]!));
    const list = await until("the polled change", () => seen[0]);
    expect([list.isRevoked(agents[0]!), list.isRevoked(agents[1]!)]).to.deep.equal([false, true]);
  });

  it("stops: no change is applied after stop()", async () => {
    await start({ pollMs: 100 });
    watch!.stop();
    writeFileSync(path, await revoking(agents[0]!));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(seen).to.deep.equal([]);
  });
});
