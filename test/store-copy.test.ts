import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import Database from "better-sqlite3";
import { expect } from "chai";
import { isSecarcError } from "../common/errors.js";
import { ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity } from "../gen/secarc/v1/alert_pb.js";
import { copySqliteToPostgres } from "../controller/store/postgres-copy.js";
import { openPostgresSilenceStore } from "../controller/store/postgres-silences.js";
import { openPostgresStore } from "../controller/store/postgres-store.js";
import { createSqliteSilenceStore } from "../controller/store/sqlite-silences.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { Priority, type TelegramStore } from "../controller/store/telegram-store.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";

const run = promisify(execFile);
const SECARC = fileURLToPath(new URL("../bin/secarc.js", import.meta.url));
const at = (ms: number) => new Date(1_700_000_000_000 + ms);

/** A SQLite store with two agents, three alerts (one at revision 2), two actions (one with its result), audit lines, a silence and the Telegram bookkeeping. */
async function fillSqliteStore(path: string): Promise<void> {
  const store = openSqliteStore(path);
  try {
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web", addresses: ["10.0.0.2"], actions: [Answer.BLOCK_IP], detectors: [1], at: at(0), certSerial: "0a" });
    await store.agentConnected({ agentId: "db-1", version: "1", hostname: "db", addresses: [], actions: [], detectors: [], at: at(1) });
    await store.setClockSkew("web-1", 1500);
    await store.agentDisconnected("db-1", at(2));
    await store.upsertAlert("web-1", sampleAlert(AlertKind.SSH_BRUTE_FORCE, { id: "a1", at: 1_700_000_000_000 }), at(3));
    await store.upsertAlert("web-1", sampleAlert(AlertKind.SSH_BRUTE_FORCE, { id: "a1", at: 1_700_000_000_000, revision: 2, severity: Severity.CRITICAL }), at(4));
    await store.upsertAlert("web-1", sampleAlert(AlertKind.SSH_SESSION, { id: "a2", at: 1_700_000_000_000 }), at(4));
    await store.upsertAlert("db-1", sampleAlert(AlertKind.SSH_SESSION, { id: "a3", at: 1_700_000_000_000 }), at(5));
    const operator = create(OperatorSchema, { telegramUserId: 42n, displayName: "alice" });
    await store.createAction({ actionId: "act-1", agentId: "web-1", alertId: "a1", answer: Answer.BLOCK_IP, operator, requestedAt: at(6), options: undefined, target: undefined });
    await store.markActionSent("act-1", at(7));
    await store.recordResult("web-1", create(ActionResultSchema, { actionId: "act-1", status: ResultStatus.DONE, detail: "blocked", finishedAt: timestampFromMs(at(8).getTime()) }), at(8));
    await store.createAction({ actionId: "act-2", agentId: "db-1", alertId: "a3", answer: Answer.IGNORE, operator, requestedAt: at(9), options: undefined, target: undefined, policy: { afterMs: 60_000 } });
    for (let i = 0; i < 3; i++) await store.audit({ at: at(10 + i), actor: "alice", event: "answer", detail: `line ${i}` });
    await createSqliteSilenceStore(store.db).saveSilence({
      silenceId: "s1", matcher: { labels: { team: "db" }, kinds: [] }, startsAt: at(0).getTime(), endsAt: at(3_600_000).getTime(), createdBy: "alice", origin: "command",
    });
    await fillTelegram(store.telegram);
  } finally {
    await store.close();
  }
}

const CHAT = -1001234567890;

/** Message ids, two queued jobs (one in flight), a tracked action, a list tap and a fleet summary. */
async function fillTelegram(t: TelegramStore): Promise<void> {
  await t.saveRendered({ alertId: "a1", chatId: CHAT, messageId: 77, digestMessageId: 5, renderedVersion: 3, renderedPhase: "open", renderedHash: "h", firstSeverity: 2, renderedAt: at(3).getTime(), sentAgain: true });
  await t.enqueueAlert(CHAT, "a2", Priority.fresh, at(4).getTime());
  await t.enqueueText(CHAT, { text: "<b>hi</b>", threadId: 9 }, Priority.interactive, at(5).getTime());
  const [first] = await t.listDue(at(6).getTime(), 10);
  await t.claimSend(first!, at(6).getTime());
  await t.trackAction({ actionId: "act-1", agentId: "web-1", answer: Answer.BLOCK_IP, ip: "198.51.100.7", createdAt: at(6).getTime() });
  const keyboard = [[{ text: "Unblock", callback_data: "u:1" }]];
  await t.addListLine({ actionId: "act-1", chatId: CHAT, messageId: 80, tapped: "u:1", baseHtml: "<b>Blocks</b>", keyboard, createdAt: at(7).getTime() });
  await t.followFleet({ fleetId: "f1", chatId: CHAT, alertId: "a1" });
  await t.saveFleetSent("f1", CHAT, 81, "fh");
}

/** Everything fillTelegram wrote, as a store reads it back. */
async function telegramView(t: TelegramStore) {
  return {
    message: await t.findByMessage(CHAT, 77),
    due: await t.listDue(at(10).getTime(), 10),
    tracked: await t.listTrackedBlocks(),
    lines: await t.listLinesOfMessage(CHAT, 80),
    fleet: [await t.getFleetMessage("f1", CHAT), await t.fleetChats("f1")],
  };
}

describe("secarc store copy: SQLite into PostgreSQL", function () {
  this.timeout(180_000);
  let cluster: PgCluster;
  let dir: string;
  let path: string;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-store-copy-"));
    path = join(dir, "controller.db");
    await fillSqliteStore(path);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("copies every table, prints the counts, and the PostgreSQL store then holds what the SQLite one did", async () => {
    const url = await cluster.createDatabase();
    const { stdout } = await run(process.execPath, [SECARC, "store", "copy", "--from", path, "--to", url], { timeout: 120_000 });
    expect(stdout).to.match(/agents\s+2\n/).and.match(/alerts\s+3\n/).and.match(/actions\s+2\n/).and.match(/audit\s+3\n/).and.match(/silences\s+1\n/)
      .and.match(/telegram_queue\s+2\n/).and.match(/telegram_list_lines\s+1\n/).and.match(/telegram_fleet_messages\s+1\n/);

    const sqlite = openSqliteStore(path);
    const pg = await openPostgresStore({ url, poolSize: 2 });
    try {
      expect(await pg.listAgents()).to.deep.equal(await sqlite.listAgents());
      expect(await pg.listOpenAlerts(10)).to.deep.equal(await sqlite.listOpenAlerts(10));
      for (const alertId of ["a1", "a3"]) expect(await pg.listActionsForAlert(alertId)).to.deep.equal(await sqlite.listActionsForAlert(alertId));
      expect(await pg.listAudit(10)).to.deep.equal(await sqlite.listAudit(10));
      const since = new Date(0);
      expect(await (await openPostgresSilenceStore(pg.sql, pg.where)).listSilences(since)).to.deep.equal(await createSqliteSilenceStore(sqlite.db).listSilences(since));
      const telegram = await telegramView(sqlite.telegram);
      expect(telegram.due.map((j) => j.sendingSince !== undefined)).to.include(true);
      expect(telegram.message?.sentAgain).to.equal(true);
      expect(await telegramView(pg.telegram)).to.deep.equal(telegram);
      // Ids and insertion order go on after the copied ones.
      await pg.telegram.enqueueAlert(CHAT, "a3", Priority.fresh, at(20).getTime());
      expect(Math.max(...(await pg.telegram.listFresh(CHAT, at(20).getTime(), 10)).map((j) => j.id))).to.be.greaterThan(Math.max(...telegram.due.map((j) => j.id)));
      await pg.audit({ at: at(20), actor: "bob", event: "answer", detail: "after the copy" });
      expect((await pg.listAudit(1))[0]?.id).to.equal(4);
      await pg.upsertAlert("db-1", sampleAlert(AlertKind.SSH_SESSION, { id: "a4", at: 1_700_000_000_000 }), at(5));
      expect((await pg.listOpenAlerts(2)).map((a) => a.alertId)).to.deep.equal(["a4", "a3"]);
    } finally {
      await sqlite.close();
      await pg.close();
    }
  });

  it("refuses while a controller has the store open or its admin socket answers, and copies nothing", async () => {
    const url = await cluster.createDatabase();
    const open = openSqliteStore(path);
    try {
      const err = await copySqliteToPostgres({ from: path, to: url }).catch((e: unknown) => e);
      expect(isSecarcError(err, "refused"), String(err)).to.equal(true);
      expect((err as Error).message).to.include(`${path} is in use`).and.include("systemctl stop secarc-controller");
    } finally {
      await open.close();
    }
    const socket = join(dir, "admin.sock");
    const server: Server = createServer((c) => c.end());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const err = await copySqliteToPostgres({ from: path, to: url, adminSocket: socket }).catch((e: unknown) => e);
      expect((err as Error).message).to.include(`its admin socket ${socket} answers`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const pg = await openPostgresStore({ url, poolSize: 1 });
    try {
      expect(await pg.listAgents()).to.deep.equal([]);
    } finally {
      await pg.close();
    }
  });

  it("refuses a database that is not empty, a store of another schema version, and a table PostgreSQL lacks", async () => {
    const url = await cluster.createDatabase();
    await copySqliteToPostgres({ from: path, to: url });
    const again = await copySqliteToPostgres({ from: path, to: url }).catch((e: unknown) => e);
    expect((again as Error).message).to.match(/is not empty \(table \w+ has \d+ rows\): copy into a new, empty database/);

    const db = new Database(path);
    db.prepare("UPDATE schema_versions SET version = version - 1 WHERE component = 'core'").run();
    db.close();
    const older = await copySqliteToPostgres({ from: path, to: await cluster.createDatabase() }).catch((e: unknown) => e);
    expect((older as Error).message).to.match(/its core schema is version \d+, this secarc's is \d+: start this secarc's controller on it once/);

    const other = new Database(path);
    other.prepare("UPDATE schema_versions SET version = version + 1 WHERE component = 'core'").run();
    other.exec("CREATE TABLE extra_things (id INTEGER PRIMARY KEY)");
    other.close();
    const extra = await copySqliteToPostgres({ from: path, to: await cluster.createDatabase() }).catch((e: unknown) => e);
    expect((extra as Error).message).to.include("has no table extra_things");
  });

  it("commits nothing when a row cannot go in, and says which table", async () => {
    const url = await cluster.createDatabase();
    const db = new Database(path);
    // SQLite keeps what it is given; PostgreSQL's INTEGER refuses it.
    db.prepare("UPDATE agents SET connects = 'many' WHERE agent_id = 'db-1'").run();
    db.close();
    const err = await copySqliteToPostgres({ from: path, to: url }).catch((e: unknown) => e);
    expect(String(err)).to.match(/copying table agents failed, nothing was committed: invalid input syntax for type integer/);
    const pg = await openPostgresStore({ url, poolSize: 1 });
    try {
      const counts = await pg.sql<Array<{ n: number }>>`SELECT (SELECT count(*) FROM agents) + (SELECT count(*) FROM alerts) + (SELECT count(*) FROM actions) + (SELECT count(*) FROM audit) AS n`;
      expect(Number(counts[0]?.n)).to.equal(0);
    } finally {
      await pg.close();
    }
  });
});
