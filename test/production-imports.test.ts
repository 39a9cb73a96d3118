// Issue 14 acceptance 4: nothing the product ships imports a test double.
// The walker (test/support/import-graph.ts) starts at the entry points and
// every non-test file under agent/, controller/, common/ and cli/ and follows
// every import they make; a file under test/ or testing/, a fake-* or
// *fixtures* file, or anything outside the production folders is a finding.
// The temp-tree cases show that each kind of forbidden import is caught.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { ENTRY_POINTS, forbiddenReason, walkProductionImports } from "./support/import-graph.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("production imports", () => {
  it("no production file reaches test/, testing/, a fake or a fixture", () => {
    const graph = walkProductionImports(ROOT);
    expect(graph.findings, JSON.stringify(graph.findings, null, 2)).to.deep.equal([]);
    // The walk really covered the product: the entry points, the lazily loaded
    // commands, the bridge, the agent's link and the generated protocol.
    for (const file of [...ENTRY_POINTS, "cli/status-command.ts", "controller/telegram/bridge.ts", "agent/link/link-client.ts", "gen/secarc/v1/agent_service_pb.ts"]) {
      expect(graph.files, file).to.include(file);
    }
    expect(graph.files.filter((f) => f.startsWith("testing/") || f.startsWith("test/"))).to.deep.equal([]);
  });

  it("the test doubles live outside the production folders", () => {
    for (const path of ["testing/fake-bot-api.ts", "testing/alert-fixtures.ts", "test/support/netns.ts"]) expect(forbiddenReason(path), path).to.be.a("string");
    for (const path of ["controller/telegram/bridge.ts", "gen/secarc/v1/alert_pb.ts", "common/errors.ts"]) expect(forbiddenReason(path), path).to.equal(undefined);
  });

  describe("on a temporary tree", () => {
    let root: string;
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    const findings = () => walkProductionImports(root).findings.map((f) => `${f.from} -> ${f.target ?? f.specifier}: ${f.why}`);

    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), "secarc-imports-"));
      write("cli/secarc.ts", 'import { run } from "../controller/main.js";\nexport const main = run;\n');
      write("controller/main.ts", 'import { x } from "./telegram/bridge.js";\nimport type { A } from "../gen/a_pb.js";\nexport const run = (a?: A) => x;\n');
      write("controller/telegram/bridge.ts", 'import { EventEmitter } from "node:events";\nexport const x = new EventEmitter();\n');
      write("controller/telegram/bridge.test.ts", 'import "../../testing/fake-bot-api.js";\n');
      write("gen/a_pb.ts", "export type A = number;\n");
      write("testing/fake-bot-api.ts", "export const fake = 1;\n");
      write("testing/alert-fixtures.ts", "export const alerts = [];\n");
      write("test/support/netns.ts", "export const netns = 1;\n");
      write("agent/main.ts", "export const agent = 1;\n");
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("a clean tree has no findings (unit tests may import the doubles)", () => {
      expect(findings()).to.deep.equal([]);
      expect(walkProductionImports(root).files).to.include.members(["cli/secarc.ts", "controller/telegram/bridge.ts", "gen/a_pb.ts"]);
    });

    it("fails on a static import of the fake Bot API from a file the entry points reach", () => {
      write("controller/telegram/bridge.ts", 'import { fake } from "../../testing/fake-bot-api.js";\nexport const x = fake;\n');
      expect(findings()).to.deep.equal(["controller/telegram/bridge.ts -> testing/fake-bot-api.ts: is under testing/"]);
    });

    it("fails on a type-only import, a re-export, a dynamic import() and an import type", () => {
      write("agent/a.ts", 'import type { netns } from "../test/support/netns.js";\nexport type N = typeof netns;\n');
      write("agent/b.ts", 'export { alerts } from "../testing/alert-fixtures.js";\n');
      write("cli/c.ts", 'export const load = async () => (await import("../testing/fake-bot-api.js")).fake;\n');
      write("common/d.ts", 'export type F = typeof import("../testing/fake-bot-api.js");\n');
      expect(findings().sort()).to.deep.equal([
        "agent/a.ts -> test/support/netns.ts: is under test/",
        "agent/b.ts -> testing/alert-fixtures.ts: is under testing/",
        "cli/c.ts -> testing/fake-bot-api.ts: is under testing/",
        "common/d.ts -> testing/fake-bot-api.ts: is under testing/",
      ]);
    });

    it("fails on a fake or fixtures file inside a production folder, and on a path outside them", () => {
      write("controller/telegram/fake-telegram.ts", "export const t = 1;\n");
      write("controller/alert-fixtures-extra.ts", "export const f = 1;\n");
      write("demo/scenario.ts", "export const s = 1;\n");
      write("controller/main.ts", 'import "./telegram/fake-telegram.js";\nimport "./alert-fixtures-extra.js";\nimport "../demo/scenario.js";\nexport const run = () => 1;\n');
      expect(findings().sort()).to.deep.equal([
        "controller/main.ts -> controller/alert-fixtures-extra.ts: is a fixture (*fixtures*)",
        "controller/main.ts -> controller/telegram/fake-telegram.ts: is a fake (fake-*)",
        "controller/main.ts -> demo/scenario.ts: is outside the production folders (agent, controller, common, cli, gen)",
      ]);
    });

    it("follows imports transitively and refuses computed specifiers and dangling paths", () => {
      write("gen/a_pb.ts", 'export type A = number;\nexport { fake } from "../testing/fake-bot-api.js";\n');
      write("agent/main.ts", 'const root = "../";\nexport const agent = () => import(root + "testing/fake-bot-api.js");\nimport "./gone.js";\n');
      expect(findings().sort()).to.deep.equal([
        "agent/main.ts -> ./gone.js: resolves to no file",
        'agent/main.ts -> root + "testing/fake-bot-api.js": is a computed specifier (cannot be checked)',
        "gen/a_pb.ts -> testing/fake-bot-api.ts: is under testing/",
      ]);
    });
  });
});
