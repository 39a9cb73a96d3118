import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { PROTOCOL_PACKAGE, SECARC_VERSION } from "../common/version.js";

/** What a build records about itself in dist/build-info.json (a package has no .git). */
export interface BuildInfo {
  version: string;
  /** Short git commit of the build, with "-dirty" when the tree had changes; "unknown" outside git. */
  commit: string;
  /** ISO time of the build. */
  builtAt: string;
}

/** dist/build-info.json beside the compiled dist/cli/, or the repository root when run from sources. */
const BUILD_INFO = fileURLToPath(new URL("../build-info.json", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The git commit of the checkout at `dir` ("unknown" when git or the repository is missing). */
export function gitCommit(dir: string = ROOT): string {
  // Loaded here, not at the top: every command imports this module, and
  // node:child_process (with net, dgram and streams) is 1–2 ms of a start.
  const { execFileSync } = createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process");
  const git = (args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5_000 }).trim();
  try {
    const commit = git(["rev-parse", "--short=12", "HEAD"]);
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return "unknown";
  }
}

/** The embedded build info, or (running from a checkout) what git says now. */
export function readBuildInfo(path: string = BUILD_INFO): BuildInfo {
  try {
    const info = JSON.parse(readFileSync(path, "utf8")) as Partial<BuildInfo>;
    if (typeof info.commit === "string" && typeof info.version === "string") {
      return { version: info.version, commit: info.commit, builtAt: typeof info.builtAt === "string" ? info.builtAt : "unknown" };
    }
  } catch {
    // not a build: fall through to the checkout
  }
  return { version: SECARC_VERSION, commit: gitCommit(), builtAt: "not built (running from sources)" };
}

/** The text of `secarc --version`. */
export function versionText(info: BuildInfo = readBuildInfo()): string {
  return [
    `secarc ${info.version}`,
    `commit:   ${info.commit}`,
    `built:    ${info.builtAt}`,
    `node:     ${process.version} (${process.execPath})`,
    `protocol: ${PROTOCOL_PACKAGE}`,
    "",
  ].join("\n");
}
