// Run by `npm run build` after tsc: records the build (version, git commit,
// time) in dist/build-info.json, since an installed package has no .git, and
// generates the man page and the bash completion from the help texts, and
// bundles the CLI into dist/bundle/ (one file per lazily loaded part: Node
// starts it about twice as fast as the many files of dist/).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { build, type BuildOptions } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gitCommit, type BuildInfo } from "../cli/build-info.js";
import { bashCompletion, loadAllCommands, manPage } from "../cli/help-docs.js";
import { mainUsage } from "../cli/secarc.js";
import { SECARC_VERSION } from "../common/version.js";

// --version V: a release of another version than common/version.ts names
// (`npm run release -- --version V`): stamped into the bundle, the build info
// and the man page.
// --dist DIR: tsc's output to complete (default: dist/; the release builds elsewhere).
const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({ options: { version: { type: "string", default: SECARC_VERSION }, dist: { type: "string", default: join(root, "dist") } }, strict: true });
const version = values.version;
const dist = values.dist;

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const builtAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const info: BuildInfo = { version, commit: gitCommit(root), builtAt };
write(join(dist, "build-info.json"), `${JSON.stringify(info, null, 2)}\n`);
const commands = await loadAllCommands();
write(join(dist, "share/man/man1/secarc.1"), manPage(mainUsage(), commands, version, builtAt.slice(0, 10)));
write(join(dist, "share/bash-completion/completions/secarc"), bashCompletion(commands));

// Bundled: our code and the pure-JS packages on the start-up path (zod, yaml,
// protobuf-es). External: native or CommonJS packages that read their own
// files at run time; they load from node_modules when a command needs them.
const bundleOptions = {
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  keepNames: true,
  sourcemap: true,
  logLevel: "warning",
  // The release builds outside the checkout: resolve packages from its node_modules.
  nodePaths: [join(root, "node_modules")],
  external: ["yaml", "better-sqlite3", "telegraf", "@grpc/grpc-js", "pino", "systeminformation", "prom-client", "node-cron", "@peculiar/x509", "reflect-metadata"],
  plugins: [
    {
      name: "secarc-version",
      setup(b) {
        b.onLoad({ filter: /[\\/]common[\\/]version\.js$/ }, (args) => {
          const text = readFileSync(args.path, "utf8");
          const stamped = text.replace(/SECARC_VERSION = "[^"]*"/, `SECARC_VERSION = ${JSON.stringify(version)}`);
          if (stamped === text && version !== SECARC_VERSION) throw new Error("build: SECARC_VERSION not found to stamp");
          return { contents: stamped, loader: "js" };
        });
      },
    },
  ],
  // yaml's CommonJS build calls require("process"): give the bundle a require.
  banner: { js: 'import { createRequire as __secarcRequire } from "node:module"; const require = __secarcRequire(import.meta.url);' },
} satisfies BuildOptions;

// `secarc replay` is a bundle of its own in dist/bundle/replay/, which the
// main bundle imports when the command runs: shared with the other commands,
// its code was split into a dozen chunks, and each module Node loads costs
// its start (resolve, read, compile, link). Apart, the replay's static graph
// is its entry and the few chunks it shares with its own lazy parts (5
// files instead of 13), and the parallel replay's worker sits beside the
// chunk that starts it ("./replay-worker.js"). Without keepNames: the replay
// has no code that reads a function's name (SecarcError sets its own), and
// the helper call per function is 1–2 ms of its start.
const REPLAY_DIR = "replay";
const replayOptions = { ...bundleOptions, keepNames: false, outdir: join(dist, "bundle", REPLAY_DIR) };
await build({
  ...bundleOptions,
  entryPoints: { secarc: join(dist, "cli/secarc.js") },
  outdir: join(dist, "bundle"),
  plugins: [
    ...bundleOptions.plugins,
    {
      name: "secarc-replay-apart",
      setup(b) {
        b.onResolve({ filter: /[\\/]replay-command\.js$/ }, () => ({ path: `./${REPLAY_DIR}/replay-command.js`, external: true }));
      },
    },
  ],
});
await build({ ...replayOptions, entryPoints: { "replay-command": join(dist, "cli/replay-command.js") } });
await build({ ...replayOptions, splitting: false, entryPoints: { "replay-worker": join(dist, "agent/detectors/replay-worker.js") } });
process.stdout.write(`build: secarc ${info.version} (${info.commit}), man page and bash completion in dist/share/\n`);
