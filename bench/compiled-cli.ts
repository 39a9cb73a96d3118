import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Builds `secarc` as it ships (tsc + the esbuild bundle of
 * scripts/build-extras.ts) into `out`, emptied first; returns the path of its
 * bin/secarc.js.
 */
export function buildCompiledCli(out: string): string {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "bin"), { recursive: true });
  execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(out, "dist")], { stdio: "inherit" });
  execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts/build-extras.ts"), "--dist", join(out, "dist")], { stdio: "inherit" });
  copyFileSync(join(ROOT, "bin/secarc.js"), join(out, "bin/secarc.js"));
  return join(out, "bin/secarc.js");
}
