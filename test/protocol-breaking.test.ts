import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const ROOT = new URL("..", import.meta.url).pathname;
const BUF = join(ROOT, "node_modules/.bin/buf");

/** `buf breaking` of the protocol in `dir` against the committed baseline of the last release. */
async function breaking(dir: string): Promise<{ code: number; output: string }> {
  return run(BUF, ["breaking", "--against", join(ROOT, "proto/baseline.binpb")], { cwd: dir }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }),
  );
}

describe("protocol: buf breaking against the last release's baseline (proto/baseline.binpb)", function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-breaking-"));
    cpSync(join(ROOT, "proto"), join(dir, "proto"), { recursive: true });
    cpSync(join(ROOT, "buf.yaml"), join(dir, "buf.yaml"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("today's protocol passes", async () => {
    const r = await breaking(dir);
    expect(r.code, r.output).to.equal(0);
  });

  it("renumbering a released field fails, naming it", async () => {
    const file = join(dir, "proto/secarc/v1/alert.proto");
    const text = readFileSync(file, "utf8");
    const renumbered = text.replace(/(string summary = )(\d+);/, (_, head: string, n: string) => `${head}${Number(n) + 100};`);
    expect(renumbered, "alert.proto should have a summary field").to.not.equal(text);
    writeFileSync(file, renumbered);
    const r = await breaking(dir);
    expect(r.code).to.not.equal(0);
    expect(r.output).to.contain("summary");
  });
});
