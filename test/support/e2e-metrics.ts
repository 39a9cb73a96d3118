import { run } from "./netns.js";

/**
 * The controller's metrics as an operator sees them: `curl` of
 * http://127.0.0.1:PORT/metrics (run with an argument vector), parsed from
 * the Prometheus text format into samples keyed by name and labels as
 * printed, e.g. `secarc_alerts_total{kind="ssh_session",severity="info"}`.
 */
export interface MetricsScrape {
  /** The body as served. */
  text: string;
  /** Every sample, keyed by `name` or `name{labels}`. */
  samples: Map<string, number>;
  /** Families announced by a `# TYPE` line, with their type. */
  types: Map<string, string>;
  /** The value of one sample, or undefined when it is absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/** Fetches and parses the metrics; rejects when curl fails or the answer is not HTTP 200. */
export async function curlMetrics(port: number, timeoutMs = 5000): Promise<MetricsScrape> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a port: ${port}`);
  const result = await run("curl", ["-sS", "--fail", "--max-time", String(Math.ceil(timeoutMs / 1000)), `http://127.0.0.1:${port}/metrics`], { timeoutMs: timeoutMs + 2000 });
  if (result.code !== 0) throw new Error(`curl of the metrics endpoint on port ${port} exited ${result.code}: ${result.stderr.trim()}`);
  return parseMetrics(result.stdout);
}

/**
 * A sample's value as Prometheus reads it (Go's ParseFloat): a number, or
 * NaN and ±Inf in any case. prom-client writes "Nan" for a summary with no
 * observations yet (the event-loop lag right after a start).
 */
function sampleValue(text: string): number | undefined {
  if (/^nan$/i.test(text)) return NaN;
  if (/^[+-]?inf(inity)?$/i.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  const value = Number(text);
  return text.trim() === "" || Number.isNaN(value) ? undefined : value;
}

export function parseMetrics(text: string): MetricsScrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice("# TYPE ".length).split(" ");
      if (name && type) types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    if (space <= 0) throw new Error(`malformed metrics line: ${line}`);
    const value = sampleValue(line.slice(space + 1));
    if (value === undefined) throw new Error(`malformed metrics value: ${line}`);
    samples.set(line.slice(0, space), value);
  }
  return {
    text,
    samples,
    types,
    value(name, labels = {}) {
      const entries = Object.entries(labels);
      const key = entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(",")}}`;
      return samples.get(key);
    },
  };
}
