import { appendFileSync } from "node:fs";

/** A figure of a benchmark beside its target (issue 17's table), printed as one aligned table. */
export interface BenchRow {
  figure: string;
  /** What this run measured, in words ("612 MiB (61 KiB per agent)"). */
  measured: string;
  target: string;
  /** Whether the target is met; undefined when the figure was not measured. */
  met: boolean | undefined;
}

/** The p-th percentile (0..100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The median of `values`; NaN when empty. */
export const median = (values: readonly number[]): number => percentile(values, 50);

/** Rows as a Markdown table: figure | measured | target | met. */
export function formatRows(rows: readonly BenchRow[]): string {
  const cells = rows.map((r) => [r.figure, r.measured, r.target, r.met === undefined ? "not measured" : r.met ? "yes" : "NO"]);
  const header = ["figure", "measured", "target", "met"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

/**
 * Prints `rows` as a table under `title`, and adds them to the file that
 * `npm run bench` (bench/run.ts) names in SECARC_BENCH_ROWS, so that it
 * prints every benchmark's rows in one table at the end.
 */
export function printRows(title: string, rows: readonly BenchRow[]): void {
  process.stdout.write(`\n${title}:\n${formatRows(rows)}\n`);
  const file = process.env.SECARC_BENCH_ROWS;
  if (file && rows.length > 0) appendFileSync(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(""));
}
