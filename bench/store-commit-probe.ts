// `node --import tsx bench/store-commit-probe.ts`: one SQLite store (WAL, synchronous FULL), alerts upserted in transactions of 1, 10, 100 and 1,000: ms per commit and alerts/s. See docs/performance.md.
import { mkdtempSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path";
import { create } from "@bufbuild/protobuf"; import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { AlertSchema, AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import { newId } from "../common/ids.js";
const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), "ups-")), "c.db"));
await store.agentConnected({ agentId: "a", version: "1", hostname: "a", addresses: [], actions: [], detectors: [], at: new Date(), unavailableAnswers: [] });
for (const batch of [1, 10, 100, 1000]) {
  const n = batch === 1 ? 300 : 5000; const t = performance.now();
  for (let i = 0; i < n; i += batch) await store.transaction(async (tx) => { for (let j = 0; j < batch; j++) await tx.upsertAlert("a", create(AlertSchema, { id: newId(Date.now()), revision: 1, kind: AlertKind.HTTP_404_BURST, severity: Severity.WARNING, state: AlertState.OPEN, detectedAt: timestampFromMs(Date.now()), subject: { case: "httpErrors", value: { clientIp: "198.51.100.1", status: 404, count: 25, recentPaths: ["/a"] } } }), new Date()); });
  const ms = performance.now() - t; console.log(`batch ${batch}: ${(ms / (n / batch)).toFixed(2)} ms/commit, ${(n / (ms / 1000)).toFixed(0)} alerts/s`);
}
