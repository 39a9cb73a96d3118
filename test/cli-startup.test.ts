import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const probe = new URL("./support/loaded-packages-probe.mjs", import.meta.url).pathname;
const HEAVY = ["telegraf", "@grpc/grpc-js", "better-sqlite3"];

/** The npm packages `secarc ARGS` loads (CommonJS ones: telegraf, grpc-js and better-sqlite3 are). */
async function loadedPackages(args: string[]): Promise<string[]> {
  const { stderr } = await run(process.execPath, ["--import", probe, `${root}bin/secarc.js`, ...args], { cwd: root }).catch(
    (err: { stderr: string; code: number }) => ({ stderr: err.stderr, code: err.code }),
  );
  const line = /loaded-packages (\[.*\])/.exec(stderr);
  expect(line, stderr).to.not.equal(null);
  return JSON.parse(line![1]!) as string[];
}

describe("secarc start-up: subcommands' modules load only when they run", function () {
  this.timeout(60_000);

  for (const args of [["--help"], ["--version"], ["controller", "--help"], ["agent", "--help"], ["replay", "--help"]]) {
    it(`secarc ${args.join(" ")} loads none of ${HEAVY.join(", ")}`, async () => {
      const loaded = await loadedPackages(args);
      for (const name of HEAVY) expect(loaded, name).to.not.include(name);
    });
  }

  it("the probe does see them when a command needs them (secarc test-alert --help loads gRPC)", async () => {
    expect(await loadedPackages(["test-alert", "--help"])).to.include("@grpc/grpc-js");
  });
});
