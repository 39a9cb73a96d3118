import { expect } from "chai";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

/**
 * Adding an alert kind, as a newcomer would, in a copy of the production
 * tree: the proto's new enum value (the generated AlertKind widened by
 * DISK_FULL), then the catalog entries, then the texts (unit tests left out:
 * the production build is what must point the way). After each step the
 * type check must name exactly the places still missing, and nothing else;
 * once they are all there it passes. This is the list docs/architecture.md
 * gives ("Adding a detector").
 */

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..");
const TREES = ["agent", "controller", "common", "cli", "gen", "testing", "demo"];

/** Each edit: the file, the text it goes in front of (which must be there exactly once), the new text. */
type Edit = [file: string, before: string, insert: string];

const ENUM: Edit[] = [["gen/secarc/v1/alert_pb.ts", "  DETECTOR_BLIND = 6,\n", "  DISK_FULL = 99,\n"]];

const CATALOGS: Edit[] = [
  ["common/alert-kinds.ts", "} as const satisfies Record<KnownKind, SharedKindEntry>;", "  [AlertKind.DISK_FULL]: { answers: [Answer.IGNORE], address: none },\n"],
  [
    "agent/detectors/catalog.ts",
    "} as const satisfies Record<AgentKind, AgentKindEntry>;",
    '  [AlertKind.DISK_FULL]: { detector: "disk-full", answers: SHARED_KINDS[AlertKind.DISK_FULL].answers, enabled: () => false, create: () => { throw new Error("sketch"); } },\n',
  ],
  [
    "controller/domain/alert-kinds.ts",
    "} as const satisfies Record<KnownKind, KindEntry>;",
    '  [AlertKind.DISK_FULL]: { answers: SHARED_KINDS[AlertKind.DISK_FULL].answers, raisedBy: "agent", name: "disk_full", textKey: "diskFull", fleetBlock: false },\n',
  ],
  ["controller/telegram/alert-body.ts", "} satisfies Record<RenderableKind, BodyRenderer>;", "  [AlertKind.DISK_FULL]: (alert, t) => t.alert.diskFull({ summary: field(alert.summary) }),\n"],
];

const ENGLISH: Edit[] = [
  ["controller/telegram/i18n/en.ts", '    unknown: "alert",\n', '    diskFull: "Disk full",\n'],
  ["controller/telegram/i18n/en.ts", "    httpLogFile:", "    diskFull: (p: { summary: string }) => `Disk full: ${p.summary}`,\n"],
];

const SPANISH: Edit[] = [
  ["controller/telegram/i18n/es.ts", '    unknown: "alerta",\n', '    diskFull: "Disco lleno",\n'],
  ["controller/telegram/i18n/es.ts", "    httpLogFile:", "    diskFull: (p: { summary: string }) => `Disco lleno: ${p.summary}`,\n"],
];

function apply(dir: string, edits: readonly Edit[]): void {
  for (const [file, before, insert] of edits) {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    const at = text.indexOf(before);
    if (at < 0 || text.indexOf(before, at + 1) >= 0) throw new Error(`${file}: the line ${JSON.stringify(before)} is not there exactly once; update this test with the catalog`);
    writeFileSync(path, text.slice(0, at) + insert + text.slice(at));
  }
}

/** The files tsc reports errors in, with the errors. */
async function typeErrors(dir: string): Promise<Map<string, string[]>> {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const result = await execFileAsync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json"), "--pretty", "false"], { cwd: dir, maxBuffer: 16 << 20 }).then(
    (ok) => ok.stdout,
    (err: { stdout?: string; code?: number }) => {
      if (typeof err.stdout !== "string" || (err.code !== 1 && err.code !== 2)) throw err;
      return err.stdout;
    },
  );
  const errors = new Map<string, string[]>();
  let last: string[] | undefined;
  for (const line of result.split("\n")) {
    const match = /^([^\s(]+)\(\d+,\d+\): error (TS\d+: .*)$/.exec(line);
    if (match) {
      last = errors.get(match[1]!) ?? [];
      errors.set(match[1]!, last);
      last.push(match[2]!);
    } else if (/^\s/.test(line) && last && last.length > 0) {
      // A message's further lines (the property that is missing ...).
      last[last.length - 1] += `\n${line.trim()}`;
    }
  }
  return errors;
}

/**
 * The places a check names as missing something: a table that does not
 * satisfy its type (TS1360) or an object without a required property
 * (TS2741). Other errors follow from those (an index into the incomplete
 * table) and name no place of their own.
 */
function missingPlaces(errors: ReadonlyMap<string, string[]>): string[] {
  return [...errors].filter(([, messages]) => messages.some((message) => /^TS(1360|2741):/.test(message))).map(([file]) => file).sort();
}

describe("adding an alert kind: the type check names every missing place", function () {
  this.timeout(900_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-kind-"));
    for (const tree of TREES) cpSync(join(ROOT, tree), join(dir, tree), { recursive: true, filter: (src) => !src.includes("node_modules") && !src.endsWith(".test.ts") });
    symlinkSync(realpathSync(join(ROOT, "node_modules")), join(dir, "node_modules"), "dir");
    const base = JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    writeFileSync(join(dir, "package.json"), readFileSync(join(ROOT, "package.json")));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...base.compilerOptions, incremental: true, tsBuildInfoFile: "tsc.tsbuildinfo" }, include: TREES }));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a new AlertKind in the proto: the shared, agent and controller catalogs and the message body are named missing, nothing else", async () => {
    apply(dir, ENUM);
    const errors = await typeErrors(dir);
    expect(missingPlaces(errors)).to.deep.equal(["agent/detectors/catalog.ts", "common/alert-kinds.ts", "controller/domain/alert-kinds.ts", "controller/telegram/alert-body.ts"]);
    for (const file of missingPlaces(errors)) expect(errors.get(file)!.join("\n")).to.include("[AlertKind.DISK_FULL]' is missing");
  });

  it("its catalog entries given: the English texts (kind name and body line), nothing else", async () => {
    apply(dir, CATALOGS);
    const errors = await typeErrors(dir);
    expect(missingPlaces(errors)).to.deep.equal(["controller/telegram/i18n/en.ts"]);
    expect(errors.get("controller/telegram/i18n/en.ts")!.join("\n")).to.include("'diskFull' is missing");
    // The texts are also reported where they are used (the body line, the kind's name), and nowhere else.
    expect([...errors.keys()].sort()).to.deep.equal(["controller/telegram/alert-body.ts", "controller/telegram/alert-labels.ts", "controller/telegram/i18n/en.ts"]);
    for (const messages of errors.values()) expect(messages.join("\n")).to.include("diskFull");
  });

  it("its English texts given: the other language's texts, nothing else", async () => {
    apply(dir, ENGLISH);
    const errors = await typeErrors(dir);
    // es.ts lacks the keys; the language table (translations.ts) says so too, naming es.
    expect(missingPlaces(errors)).to.include("controller/telegram/i18n/es.ts");
    expect([...errors.keys()].sort()).to.deep.equal(["controller/telegram/i18n/es.ts", "controller/telegram/i18n/translations.ts"].filter((file) => errors.has(file)));
    for (const messages of errors.values()) expect(messages.join("\n")).to.include("diskFull");
  });

  it("every place given: the type check passes", async () => {
    apply(dir, SPANISH);
    expect(Object.fromEntries(await typeErrors(dir))).to.deep.equal({});
  });
});
