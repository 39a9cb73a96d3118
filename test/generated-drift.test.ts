import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const check = join(root, "scripts/check-generated.sh");

describe("generated code drift check (scripts/check-generated.sh, run by .ci/run)", function () {
  this.timeout(60_000);
  let copy: string;

  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), "secarc-drift-"));
    for (const entry of ["proto", "gen", "buf.yaml", "buf.gen.yaml"]) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it("passes when gen/ matches proto/", async () => {
    const { stdout } = await run("bash", [check, copy]);
    expect(stdout).to.contain("gen/ matches proto/");
  });

  it("fails when a .proto changed without regenerating", async () => {
    const file = join(copy, "proto/secarc/v1/agent_service.proto");
    const text = readFileSync(file, "utf8").replace("uint32 outbox_depth = 2;", "uint32 outbox_depth = 2;\n  // Added without regenerating.\n  string note = 15;");
    writeFileSync(file, text);
    const failure = await run("bash", [check, copy]).then(() => undefined, (err: { code: number; stderr: string }) => err);
    expect(failure, "the check must fail").to.not.equal(undefined);
    expect(failure!.code).to.equal(1);
    expect(failure!.stderr).to.contain("gen/ is out of date with proto/");
  });
});
