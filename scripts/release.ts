// `npm run release [-- options]`: the release artifacts in release/ —
//   secarc_VERSION_ARCH.deb       (dpkg-deb; bundles the Node runtime)
//   secarc-VERSION-linux-ARCH.tar.xz  (the same tree, for other distributions)
//   secarc-VERSION.tgz            (npm pack, for `npm install -g`)
//   proto-baseline.binpb          (buf image of this release's protocol)
// The checkout's dist/ is not touched: the release compiles into OUT/build/.
// Options: --version V (default: package.json's), --out DIR, --only deb|tar|npm
// (repeatable), --no-build (reuse OUT/build/ from an earlier run), --xz-level 0-9 (default 6),
// --update-baseline (also write proto/baseline.binpb, to commit after a release).
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { CONFIG_FILES, LAYOUT, stageTree, stampVersion } from "./release-tree.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    version: { type: "string" },
    out: { type: "string", default: join(root, "release") },
    only: { type: "string", multiple: true },
    "no-build": { type: "boolean", default: false },
    "xz-level": { type: "string", default: "6" },
    "update-baseline": { type: "boolean", default: false },
  },
  strict: true,
});

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const version = values.version ?? pkg.version;
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(version)) throw new Error(`release: --version ${version} is not MAJOR.MINOR.PATCH[-PRE]`);
const xzLevel = values["xz-level"];
if (!/^[0-9]$/.test(xzLevel)) throw new Error(`release: --xz-level ${xzLevel} is not 0-9`);
const only = new Set(values.only ?? ["deb", "tar", "npm"]);
for (const what of only) if (!["deb", "tar", "npm"].includes(what)) throw new Error(`release: --only ${what}: one of deb, tar, npm`);
/** Debian orders "~" before anything: 0.2.1~rc1 < 0.2.1. */
const debVersion = version.replace("-", "~");
const arch = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[process.arch];
if (!arch) throw new Error(`release: no Debian architecture for ${process.arch}`);
const out = values.out;
mkdirSync(out, { recursive: true });

const run = (cmd: string, args: string[], cwd = root): string => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const runAsync = promisify(execFile);
const started = Date.now();
const report = (path: string): void => void process.stdout.write(`release: ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB, at ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);

const dist = join(out, "build");
if (!values["no-build"] || !existsSync(join(dist, "cli/secarc.js"))) {
  rmSync(dist, { recursive: true, force: true });
  run(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.build.json"), "--outDir", dist]);
}
// Bundle, build info and man page for this version (a few seconds).
run(process.execPath, ["--import", "tsx", join(root, "scripts/build-extras.ts"), "--version", version, "--dist", dist]);

/** DEBIAN/ of the staged root for dpkg-deb: control, conffiles, maintainer scripts, md5sums. */
function writeDebianControl(debian: string, stage: string, sizeKiB: number): void {
  mkdirSync(debian);
  const control = readFileSync(join(root, "packaging/debian/control"), "utf8")
    .replace("@VERSION@", debVersion)
    .replace("@ARCH@", arch!)
    .replace("@SIZE@", String(sizeKiB));
  writeFileSync(join(debian, "control"), control);
  writeFileSync(join(debian, "conffiles"), CONFIG_FILES.map((f) => `/${LAYOUT.config}/${f}\n`).join(""));
  for (const script of ["postinst", "prerm", "postrm"]) {
    copyFileSync(join(root, "packaging/debian", script), join(debian, script));
    chmodSync(join(debian, script), 0o755);
  }
  const sums = run("sh", ["-c", "find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's# \\./# #'"], stage);
  writeFileSync(join(debian, "md5sums"), sums);
}

const work = mkdtempSync(join(out, ".stage-"));
try {
  if (only.has("deb") || only.has("tar")) {
    const stage = join(work, "root");
    const sizeKiB = stageTree({ root, dist, stage, version, nodeBinary: process.execPath });
    if (only.has("deb")) writeDebianControl(join(stage, "DEBIAN"), stage, sizeKiB);
    // The tarball and the .deb compress at the same time.
    const jobs: Promise<void>[] = [];
    if (only.has("tar")) {
      const tarball = join(out, `secarc-${version}-linux-${process.arch}.tar.xz`);
      const tarArgs = ["--create", "--file", tarball, `--use-compress-program=xz -T0 -${xzLevel}`, "--owner=0", "--group=0", "--numeric-owner", "--sort=name", "--exclude=./DEBIAN", "-C", stage, "."];
      jobs.push(runAsync("tar", tarArgs, { cwd: root }).then(() => report(tarball)));
    }
    if (only.has("deb")) {
      const deb = join(out, `secarc_${debVersion}_${arch}.deb`);
      jobs.push(runAsync("dpkg-deb", ["--root-owner-group", "-Zxz", `-z${xzLevel}`, "--build", stage, deb], { cwd: root }).then(() => report(deb)));
    }
    await Promise.all(jobs);
  }
  if (only.has("npm")) {
    // npm pack of a copy whose package.json carries the release version.
    const pack = join(work, "npm");
    mkdirSync(pack);
    const files = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { files: string[] }).files;
    for (const part of [...files.filter((f) => f !== "dist"), "package.json"]) run("cp", ["-a", "--", join(root, part), pack]);
    run("cp", ["-a", "--", dist, join(pack, "dist")]);
    stampVersion(pack, version);
    const name = run("npm", ["pack", "--silent", "--pack-destination", out], pack).trim().split("\n").pop()!;
    report(join(out, name));
  }
  const baseline = join(out, "proto-baseline.binpb");
  run(join(root, "node_modules/.bin/buf"), ["build", "-o", baseline]);
  if (values["update-baseline"]) copyFileSync(baseline, join(root, "proto/baseline.binpb"));
  report(baseline);
} finally {
  rmSync(work, { recursive: true, force: true });
}
