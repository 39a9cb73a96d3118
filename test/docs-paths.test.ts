// Issue 13 item 9: the docs name one set of paths, the one the example
// configs, the units and the package use. Every /etc/secarc/... and
// /var/lib/secarc/... path in docs/ and README.md must be a path those name
// (a file, one of their directories, or a glob matching one of them).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { parse as parseYaml } from "yaml";
import { parseUnitFile } from "./support/unit-file.js";

const ROOT = new URL("..", import.meta.url).pathname;
const PATH = /\/(?:etc|var\/lib)\/secarc(?:\/[^\s`'"),;|<>\]]*)?/g;

/** Paths of the 0.1.0 layout that install.md names on purpose (moving from it). */
const FORMER_LAYOUT = new Set(["/var/lib/secarc/controller.db*", "/var/lib/secarc/agent.db*"]);

function stringsIn(value: unknown, into: string[] = []): string[] {
  if (typeof value === "string") into.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, into);
  else if (value !== null && typeof value === "object") for (const v of Object.values(value)) stringsIn(v, into);
  return into;
}

function unit(name: string) {
  return parseUnitFile(readFileSync(join(ROOT, "deploy", name), "utf8")).get("Service")!;
}

/** The paths the product itself uses: example configs, units, the package's maintainer scripts. */
function knownPaths(): Set<string> {
  const known = new Set<string>();
  for (const file of ["controller.example.yaml", "agent.example.yaml"]) {
    for (const s of stringsIn(parseYaml(readFileSync(join(ROOT, "deploy", file), "utf8")))) if (s.startsWith("/etc/secarc") || s.startsWith("/var/lib/secarc")) known.add(s);
  }
  for (const name of ["secarc-controller.service", "secarc-agent.service"]) {
    const service = unit(name);
    for (const dir of service.get("StateDirectory") ?? []) known.add(`/var/lib/${dir}`);
    for (const file of service.get("EnvironmentFile") ?? []) known.add(file.replace(/^-/, ""));
    for (const m of (service.get("ExecStart") ?? []).join(" ").matchAll(PATH)) known.add(m[0]);
  }
  for (const script of ["postinst", "postrm"]) {
    for (const m of readFileSync(join(ROOT, "packaging/debian", script), "utf8").matchAll(PATH)) known.add(m[0]);
  }
  return known;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
}

/**
 * The directories where docs may name files of the operator's choosing
 * (a backup, another agent's certificate): each role's state directory and
 * the PKI directory, not their parents.
 */
const FILE_DIRS = new Set(["/var/lib/secarc/controller", "/var/lib/secarc/agent", "/etc/secarc/pki"]);

/** Whether `path` (from a doc) is a known path, a directory of one, a glob matching one, or a file in FILE_DIRS. */
export function matchesKnown(path: string, known: Set<string>): boolean {
  const bare = path.replace(/\/$/, "");
  if (known.has(bare)) return true;
  if (FILE_DIRS.has(dirname(bare)) && [...known].some((k) => k.startsWith(`${dirname(bare)}/`) || k === dirname(bare))) return true;
  const all = [...known];
  if (all.some((k) => k.startsWith(`${bare}/`))) return true;
  if (bare.includes("*")) return all.some((k) => globToRegExp(bare).test(k));
  return false;
}

describe("docs: every /etc/secarc and /var/lib/secarc path matches the configs, units and package", () => {
  const known = knownPaths();

  it("the example configs keep TLS files in /etc/secarc/pki/ and state in each unit's StateDirectory", () => {
    const controller = parseYaml(readFileSync(join(ROOT, "deploy/controller.example.yaml"), "utf8")) as { tls: Record<string, string>; store: { path: string } };
    const agent = parseYaml(readFileSync(join(ROOT, "deploy/agent.example.yaml"), "utf8")) as { tls: Record<string, string>; stateDir: string };
    for (const path of [...Object.values(controller.tls), ...Object.values(agent.tls)]) expect(path).to.match(/^\/etc\/secarc\/pki\/[^/]+\.pem$/);
    expect(controller.store.path.startsWith(`/var/lib/${unit("secarc-controller.service").get("StateDirectory")![0]}/`)).to.equal(true);
    expect(agent.stateDir).to.equal(`/var/lib/${unit("secarc-agent.service").get("StateDirectory")![0]}`);
    expect(unit("secarc-controller.service").get("ExecStart")![0]).to.contain("--config /etc/secarc/controller.yaml");
    expect(unit("secarc-agent.service").get("ExecStart")![0]).to.contain("--config /etc/secarc/agent.yaml");
  });

  it("the check itself refuses a path nobody uses (the old /etc/secarc/tls/)", () => {
    expect(matchesKnown("/etc/secarc/tls/crl.pem", known)).to.equal(false);
    expect(matchesKnown("/var/lib/secarc/controller.db", known)).to.equal(false);
    expect(matchesKnown("/var/lib/secarc/controller/backup.db", known)).to.equal(true);
    expect(matchesKnown("/etc/secarc/pki/crl.pem", known)).to.equal(true);
    expect(matchesKnown("/etc/secarc/pki/*-key.pem", known)).to.equal(true);
  });

  const docs = [...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`), "README.md"];
  for (const doc of docs) {
    it(`${doc} names only those paths`, () => {
      const text = readFileSync(join(ROOT, doc), "utf8");
      const unknown = [...text.matchAll(PATH)]
        .map((m) => m[0].replace(/[.:]+$/, ""))
        .filter((p) => !FORMER_LAYOUT.has(p) && !matchesKnown(p, known));
      expect(unknown, `unknown paths in ${doc}`).to.deep.equal([]);
    });
  }
});
