// Run by `npm run build` after tsc: records the build (version, git commit,
// time) in dist/build-info.json, since an installed package has no .git, and
// generates the man page and the bash completion from the help texts.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gitCommit, type BuildInfo } from "../cli/build-info.js";
import { bashCompletion, loadAllCommands, manPage } from "../cli/help-docs.js";
import { mainUsage } from "../cli/secarc.js";
import { SECARC_VERSION } from "../common/version.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const builtAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const info: BuildInfo = { version: SECARC_VERSION, commit: gitCommit(root), builtAt };
write(join(dist, "build-info.json"), `${JSON.stringify(info, null, 2)}\n`);
const commands = await loadAllCommands();
write(join(dist, "share/man/man1/secarc.1"), manPage(mainUsage(), commands, SECARC_VERSION, builtAt.slice(0, 10)));
write(join(dist, "share/bash-completion/completions/secarc"), bashCompletion(commands));
process.stdout.write(`build: secarc ${info.version} (${info.commit}), man page and bash completion in dist/share/\n`);
