// The import graph of SecARC's production code, read with the TypeScript
// parser: from the entry points and every non-test file under agent/,
// controller/, common/ and cli/, every module they reach (static imports,
// re-exports, `import type`, `import()` and `typeof import()`, require()).
// test/production-imports.test.ts checks that none of them is a test double.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/** The folders whose code ships (tsconfig.build.json compiles these). */
export const PRODUCTION_FOLDERS = ["agent", "controller", "common", "cli"] as const;
/** Folders production may reach besides its own: generated protocol code. */
const REACHABLE_FOLDERS = [...PRODUCTION_FOLDERS, "gen"];
/** The commands' composition roots (bin/secarc.js loads cli/secarc). */
export const ENTRY_POINTS = ["cli/secarc.ts", "agent/main.ts", "controller/main.ts"];

export interface ImportFinding {
  /** The importing file, relative to the root. */
  from: string;
  /** The specifier as written, or a description of a computed one. */
  specifier: string;
  /** The imported file, relative to the root, when it resolved to one. */
  target?: string;
  why: string;
}

export interface ImportGraph {
  /** Every production-side file walked, relative to the root. */
  files: string[];
  findings: ImportFinding[];
}

const isTestFile = (path: string): boolean => /\.test\.[cm]?[jt]s$/.test(path);

/** Why a file may not be reached from production code, or undefined when it may. */
export function forbiddenReason(path: string): string | undefined {
  const parts = path.split(/[\\/]/);
  const name = parts.at(-1) ?? "";
  if (parts[0] === "test") return "is under test/";
  if (parts[0] === "testing") return "is under testing/";
  if (parts.includes("test-support") || parts.includes("__fixtures__")) return "is a test folder";
  if (/^fake[-_.]/i.test(name)) return "is a fake (fake-*)";
  if (/fixtures?/i.test(name)) return "is a fixture (*fixtures*)";
  if (isTestFile(name)) return "is a test file";
  if (!REACHABLE_FOLDERS.includes(parts[0] ?? "")) return `is outside the production folders (${REACHABLE_FOLDERS.join(", ")})`;
  return undefined;
}

function listSources(dir: string, into: string[] = []): string[] {
  if (!existsSync(dir)) return into;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listSources(path, into);
    else if (/\.[cm]?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") && !isTestFile(entry.name)) into.push(path);
  }
  return into;
}

/** "./x.js" → x.ts (NodeNext style), also x.tsx, x/index.ts, and plain files (JSON). */
function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  const stem = base.replace(/\.[cm]?js$/, "");
  const ext = base.slice(stem.length).replace("js", "ts");
  const candidates = [stem + (ext || ".ts"), stem + ".tsx", base, join(base, "index.ts")];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

interface Specifier {
  text?: string;
  /** The source of a computed specifier (import(x + "y")). */
  computed?: string;
}

/** Every module specifier in one file: declarations, dynamic import(), import types, require(). */
export function specifiersOf(fileName: string, text: string): Specifier[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: Specifier[] = [];
  const literal = (node: ts.Node | undefined): void => {
    if (node && ts.isStringLiteralLike(node)) found.push({ text: node.text });
    else if (node) found.push({ computed: node.getText(source) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier) literal(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal(node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      literal(node.argument.literal);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      if (isImport || isRequire) literal(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Walks the graph from ENTRY_POINTS and every non-test source under the
 * production folders of `root`, following relative imports into whatever
 * they reach. A finding is a reached file forbiddenReason refuses, a
 * relative import that resolves to nothing, or a computed specifier (which
 * cannot be checked, so it is not allowed).
 */
export function walkProductionImports(root: string): ImportGraph {
  const rel = (path: string): string => relative(root, path).split(sep).join("/");
  const starts = [
    ...ENTRY_POINTS.map((p) => join(root, p)).filter((p) => existsSync(p)),
    ...PRODUCTION_FOLDERS.flatMap((folder) => listSources(join(root, folder))),
  ];
  const seen = new Set<string>();
  const files: string[] = [];
  const findings: ImportFinding[] = [];
  const queue = [...starts];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    files.push(rel(file));
    if (!/\.[cm]?tsx?$/.test(file)) continue;
    for (const spec of specifiersOf(file, readFileSync(file, "utf8"))) {
      if (spec.text === undefined) {
        findings.push({ from: rel(file), specifier: spec.computed ?? "?", why: "is a computed specifier (cannot be checked)" });
        continue;
      }
      if (!spec.text.startsWith(".") && !spec.text.startsWith("/")) {
        if (/(^|\/)(fake|fixtures?)([-_/]|$)/i.test(spec.text)) findings.push({ from: rel(file), specifier: spec.text, why: "names a fake or fixture package" });
        continue; // node: builtins and npm packages
      }
      const target = resolveRelative(file, spec.text);
      if (!target) {
        findings.push({ from: rel(file), specifier: spec.text, why: "resolves to no file" });
        continue;
      }
      const why = forbiddenReason(rel(target));
      if (why) findings.push({ from: rel(file), specifier: spec.text, target: rel(target), why });
      else queue.push(target);
    }
  }
  return { files: files.sort(), findings };
}
