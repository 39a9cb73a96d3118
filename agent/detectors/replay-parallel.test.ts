import { expect } from "chai";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { AlertSchema, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { NGINX_JSON_FORMAT, generateNginxLog } from "../../bench/nginx-log-gen.js";
import { detectorsConfigSchema, type DetectorsConfig } from "./config.js";
import { replayFile, type ReplayStats } from "./replay.js";
import { replayFileParallel } from "./replay-parallel.js";
import { lineBounds } from "./replay-range.js";

/** Alerts as JSON, ids replaced by their order of first appearance (ids are random by design). */
function normalised(alerts: Alert[]): unknown[] {
  const ids = new Map<string, number>();
  return alerts.map((a) => {
    if (!ids.has(a.id)) ids.set(a.id, ids.size);
    return { ...(toJson(AlertSchema, a) as object), id: ids.get(a.id) };
  });
}

function counts(stats: ReplayStats) {
  const { lines, malformed, events, oversized, alerts, bytes } = stats;
  return { lines, malformed, events, oversized, alerts, bytes };
}

async function compare(file: string, config: DetectorsConfig, threads: number, pieceBytes?: number): Promise<{ alerts: number; stats: ReturnType<typeof counts> }> {
  const single: Alert[] = [];
  const singleStats = replayFile({ detector: "nginx-404", path: file, config, onAlert: (a) => single.push(a) });
  const multi: Alert[] = [];
  const multiStats = await replayFileParallel({ detector: "nginx-404", path: file, config, threads, pieceBytes, onAlert: (a) => multi.push(a) });
  expect(counts(multiStats)).to.deep.equal(counts(singleStats));
  expect(normalised(multi)).to.deep.equal(normalised(single));
  return { alerts: single.length, stats: counts(singleStats) };
}

/**
 * Bursts that cross range bounds on purpose: 30 clients (every third IPv6)
 * each send `n` 404s on consecutive lines (interleaved two by two, CRLF
 * line ends, no newline after the last line); returns the byte offsets of
 * each burst's first and last line.
 */
function writeStraddlingLog(file: string): { first: number; last: number }[] {
  const lines: string[] = [];
  const spans: { first: number; last: number }[] = [];
  let offset = 0;
  const start = Date.UTC(2026, 0, 10, 12, 0, 0);
  for (let c = 0; c < 30; c += 2) {
    const pair = [c, c + 1].map((k) => (k % 3 === 2 ? `2001:db8:${k.toString(16)}::${(k * 7 + 1).toString(16)}` : `198.51.100.${k + 1}`));
    const n = [19, 20, 21, 49, 50, 55][(c / 2) % 6]!;
    const firsts = [0, 0];
    for (let i = 0; i < n * 2; i++) {
      const who = i % 2;
      const t = new Date(start + c * 120_000 + Math.floor(i / 2) * 500);
      const stamp = `${String(t.getUTCDate()).padStart(2, "0")}/Jan/2026:${t.toISOString().slice(11, 19)} +0000`;
      const line = `${pair[who]} - - [${stamp}] "GET /probe/${c}/${i}.php HTTP/1.1" 404 153 "-" "zgrab"\r\n`;
      if (i < 2) firsts[who] = offset;
      if (i >= n * 2 - 2) spans.push({ first: firsts[who]!, last: offset });
      lines.push(line);
      offset += line.length;
    }
  }
  writeFileSync(file, lines.join("").replace(/\r\n$/, ""));
  return spans;
}

describe("parallel replay equals the single-thread replay", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-replay-parallel-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("combined log (IPv4 and IPv6 scanners, malformed and oversized lines), 3 threads, 64 KiB ranges", async () => {
    const file = join(dir, "combined.log");
    const generated = generateNginxLog(file, { lines: 40_000, seed: 1, durationSeconds: 1800 });
    const { alerts, stats } = await compare(file, detectorsConfigSchema.parse({}), 3, 64 * 1024);
    expect(stats.lines).to.equal(generated.lines);
    expect(stats.malformed).to.equal(generated.malformedLines);
    expect(stats.oversized).to.be.greaterThan(0);
    expect(alerts).to.be.greaterThan(generated.expected.length);
  });

  it("nginx escape=json log, 2 threads, 16 KiB ranges", async () => {
    const file = join(dir, "json.log");
    const generated = generateNginxLog(file, { lines: 40_000, seed: 2, durationSeconds: 1800, format: "json" });
    const { alerts, stats } = await compare(file, detectorsConfigSchema.parse({ nginx404: { format: NGINX_JSON_FORMAT } }), 2, 16 * 1024);
    expect(stats.lines).to.equal(generated.lines);
    expect(alerts).to.be.greaterThan(0);
  });

  it("bursts straddling range bounds (IPv6, CRLF, no final newline), 1 KiB ranges", async () => {
    const file = join(dir, "straddling.log");
    const spans = writeStraddlingLog(file);
    const fd = openSync(file, "r");
    const bounds = lineBounds(fd, statSync(file).size, Math.ceil(statSync(file).size / 1024));
    closeSync(fd);
    const piece = (offset: number) => bounds.findIndex((b, i) => offset >= b && offset < bounds[i + 1]!);
    for (const span of spans) expect(piece(span.last), `burst at ${span.first}`).to.be.greaterThan(piece(span.first));
    const { alerts, stats } = await compare(file, detectorsConfigSchema.parse({}), 2, 1024);
    expect(stats.events).to.equal(spans.reduce((n, s, i) => n + [19, 20, 21, 49, 50, 55][Math.floor(i / 2) % 6]!, 0));
    // Pairs of 20, 21, 49, 50, 55 alert (two or three revisions each); pairs of 19 do not.
    expect(alerts).to.be.greaterThan(20);
  });

  it("few tracked clients (the idlest forgotten) and 3 recent paths, 2 threads, 256 KiB ranges", async () => {
    const file = join(dir, "evicting.log");
    generateNginxLog(file, { lines: 40_000, seed: 3, durationSeconds: 1800 });
    const config = detectorsConfigSchema.parse({ nginx404: { maxClients: 50, recentPaths: 3 } });
    const { alerts } = await compare(file, config, 2, 256 * 1024);
    expect(alerts).to.be.greaterThan(0);
  });

  it("default ranges (4 per thread), no paths kept", async () => {
    const file = join(dir, "default.log");
    generateNginxLog(file, { lines: 60_000, seed: 4, durationSeconds: 3600 });
    const { alerts } = await compare(file, detectorsConfigSchema.parse({ nginx404: { recentPaths: 0 } }), 2);
    expect(alerts).to.be.greaterThan(0);
  });
});
