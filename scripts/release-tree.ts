// The installed file tree of a release, staged in a directory: what the
// .deb installs and the tarball holds. Used by scripts/release.ts.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

/** Where things go inside the staged root (paths without the leading slash). */
export const LAYOUT = {
  lib: "usr/lib/secarc",
  node: "usr/lib/secarc/bin/node",
  launcher: "usr/bin/secarc",
  units: "lib/systemd/system",
  config: "etc/secarc",
  man: "usr/share/man/man1/secarc.1.gz",
  completion: "usr/share/bash-completion/completions/secarc",
  doc: "usr/share/doc/secarc",
} as const;

/** The configuration files the package installs (conffiles): from deploy/*.example.yaml. */
export const CONFIG_FILES = ["controller.yaml", "agent.yaml"] as const;
export const UNIT_FILES = ["secarc-controller.service", "secarc-agent.service"] as const;

export interface StageOptions {
  /** The repository checkout (with node_modules installed). */
  root: string;
  /** The build: tsc's output completed by scripts/build-extras.ts (bundle/, share/, build-info.json). */
  dist: string;
  /** An empty directory to fill. */
  stage: string;
  /** Version stamped into package.json, dist/build-info.json and SECARC_VERSION. */
  version: string;
  /** The Node runtime to ship (the one running the release). */
  nodeBinary: string;
}

function copy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true, dereference: true, preserveTimestamps: true });
}

/** The npm packages production needs: package-lock entries not marked dev. */
export function productionPackages(lockText: string): string[] {
  const lock = JSON.parse(lockText) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith("node_modules/") && entry.dev !== true && entry.link !== true)
    .map(([path]) => path)
    .sort();
}

/** Deletes the files under `dir` whose name matches. */
function removeFiles(dir: string, match: (name: string) => boolean): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeFiles(path, match);
    else if (match(entry.name)) rmSync(path, { force: true });
  }
}

/** Files in node_modules a running install never reads: sources of native code, build leftovers. */
function pruneNodeModules(dir: string): void {
  const sqlite = join(dir, "better-sqlite3");
  for (const sub of ["deps", "src", "binding.gyp"]) rmSync(join(sqlite, sub), { recursive: true, force: true });
  const release = join(sqlite, "build/Release");
  for (const name of readdirSync(release)) if (name !== "better_sqlite3.node") rmSync(join(release, name), { recursive: true, force: true });
  for (const name of readdirSync(join(sqlite, "build"))) if (name !== "Release") rmSync(join(sqlite, "build", name), { recursive: true, force: true });
}

/** Puts `version` into a staged package.json; checks the build (scripts/build-extras.ts --version) carries it. */
export function stampVersion(lib: string, version: string): void {
  const pkgPath = join(lib, "package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as Record<string, unknown>;
  pkg.version = version;
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  const info = JSON.parse(readFileSync(join(lib, "dist/build-info.json"), "utf8")) as { version?: string };
  if (info.version !== version) throw new Error(`release: dist/ was built as ${info.version}, not ${version}`);
}

/** Stages the whole installed tree; returns its size in KiB (for Installed-Size). */
export function stageTree(options: StageOptions): number {
  const { root, dist, stage, version } = options;
  const lib = join(stage, LAYOUT.lib);
  // The bundled CLI is all of SecARC's own code a package runs (bin/secarc.js picks it first).
  for (const part of ["bundle", "build-info.json"]) copy(join(dist, part), join(lib, "dist", part));
  for (const part of ["bin/secarc.js", "package.json", "README.md"]) copy(join(root, part), join(lib, part));
  removeFiles(join(lib, "dist"), (name) => name.endsWith(".map"));
  stampVersion(lib, version);

  const lockText = readFileSync(join(root, "package-lock.json"), "utf8");
  for (const path of productionPackages(lockText)) {
    if (!existsSync(join(root, path))) throw new Error(`release: ${path} is in package-lock.json but not installed (run npm ci)`);
    copy(join(root, path), join(lib, path));
  }
  pruneNodeModules(join(lib, "node_modules"));
  removeFiles(join(lib, "node_modules"), (name) => /\.(map|d\.ts|d\.mts|d\.cts|md)$/.test(name) && !/^(license|licence|copying|notice)/i.test(name));

  copy(options.nodeBinary, join(stage, LAYOUT.node));
  try {
    execFileSync("strip", ["--strip-all", join(stage, LAYOUT.node)], { stdio: "ignore" });
  } catch {
    // no binutils: ship it with its symbols (.dynsym, which addons link against, stays either way)
  }
  chmodSync(join(stage, LAYOUT.node), 0o755);

  const launcher = join(stage, LAYOUT.launcher);
  mkdirSync(dirname(launcher), { recursive: true });
  // "--" ends node's own options: Node 20 otherwise takes a --env-file anywhere on the line
  // (secarc controller --env-file FILE) as its own and exits 9 when it cannot read the file.
  const script = [
    "#!/bin/sh",
    `# secarc, run by the Node runtime shipped in /${LAYOUT.lib}.`,
    `exec /${LAYOUT.node} -- /${LAYOUT.lib}/bin/secarc.js "$@"`,
    "",
  ];
  writeFileSync(launcher, script.join("\n"));
  chmodSync(launcher, 0o755);

  for (const unit of UNIT_FILES) copy(join(root, "deploy", unit), join(stage, LAYOUT.units, unit));
  for (const file of CONFIG_FILES) copy(join(root, "deploy", file.replace(".yaml", ".example.yaml")), join(stage, LAYOUT.config, file));
  // 0644: no secrets by default; the bot token goes in /etc/secarc/controller.env (read by systemd as root).
  for (const file of CONFIG_FILES) chmodSync(join(stage, LAYOUT.config, file), 0o644);

  const man = join(stage, LAYOUT.man);
  mkdirSync(dirname(man), { recursive: true });
  writeFileSync(man, gzipSync(readFileSync(join(dist, "share/man/man1/secarc.1")), { level: 9 }));
  copy(join(dist, "share/bash-completion/completions/secarc"), join(stage, LAYOUT.completion));
  copy(join(root, "docs"), join(stage, LAYOUT.doc));
  copy(join(root, "README.md"), join(stage, LAYOUT.doc, "README.md"));
  copy(join(root, "packaging/debian/copyright"), join(stage, LAYOUT.doc, "copyright"));

  const du = execFileSync("du", ["-sk", "--apparent-size", stage], { encoding: "utf8" });
  return Number.parseInt(du, 10);
}
