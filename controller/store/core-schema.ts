import type { Migration } from "./migrate.js";

/**
 * The controller core's tables (component "core"). Times are Unix
 * milliseconds; proto messages are stored as their binary encoding next to
 * the few columns that queries filter or sort on.
 */
export const coreMigrations: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE agents (
        agent_id   TEXT PRIMARY KEY,
        version    TEXT NOT NULL,
        hostname   TEXT NOT NULL,
        addresses  TEXT NOT NULL,
        actions    TEXT NOT NULL,
        detectors  TEXT NOT NULL,
        online     INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        connects   INTEGER NOT NULL
      );
      CREATE TABLE alerts (
        alert_id    TEXT PRIMARY KEY,
        agent_id    TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        kind        INTEGER NOT NULL,
        severity    INTEGER NOT NULL,
        state       INTEGER NOT NULL,
        body        BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        version     INTEGER NOT NULL
      );
      CREATE INDEX alerts_open ON alerts (state, received_at);
      CREATE INDEX alerts_agent ON alerts (agent_id, received_at);
      CREATE TABLE actions (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        action_id     TEXT NOT NULL UNIQUE,
        agent_id      TEXT NOT NULL,
        alert_id      TEXT,
        answer        INTEGER NOT NULL,
        operator      BLOB NOT NULL,
        requested_at  INTEGER NOT NULL,
        options       BLOB,
        target        BLOB,
        state         TEXT NOT NULL,
        sent_at       INTEGER,
        result_status INTEGER,
        detail        TEXT NOT NULL DEFAULT '',
        dry_run       INTEGER NOT NULL DEFAULT 0,
        finished_at   INTEGER,
        expires_at    INTEGER
      );
      CREATE INDEX actions_unfinished ON actions (agent_id, state);
      CREATE INDEX actions_alert ON actions (alert_id);
      CREATE TABLE audit (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        event  TEXT NOT NULL,
        detail TEXT NOT NULL
      );
    `,
  },
  {
    // When an alert reached its current severity (the no-answer policy's
    // clock starts there), and the no-answer policy's mark on the actions it
    // chose.
    version: 2,
    sql: `
      ALTER TABLE alerts ADD COLUMN severity_since INTEGER;
      UPDATE alerts SET severity_since = received_at;
      ALTER TABLE actions ADD COLUMN policy_after_ms INTEGER;
    `,
  },
  {
    // The serial of the certificate each agent last connected with, and when
    // the controller learned from its CRL that this certificate is revoked.
    version: 3,
    sql: `
      ALTER TABLE agents ADD COLUMN cert_serial TEXT;
      ALTER TABLE agents ADD COLUMN revoked_at INTEGER;
      CREATE INDEX alerts_kind_open ON alerts (kind, state);
    `,
  },
  {
    // Each agent's detector sources as it last reported them (Hello /
    // Heartbeat): a JSON array of DetectorSourceRecord, times in ms.
    version: 4,
    sql: `ALTER TABLE agents ADD COLUMN detector_sources TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    // The answers each agent does not offer on its host, and why (its last
    // Hello): a JSON array of UnavailableAnswerRecord.
    version: 5,
    sql: `ALTER TABLE agents ADD COLUMN unavailable_answers TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    // How far each agent's clock is from the controller's (Heartbeat.sent_at
    // minus the receive time, ms; positive: the agent is ahead).
    version: 6,
    sql: `ALTER TABLE agents ADD COLUMN clock_skew_ms INTEGER;`,
  },
  {
    // Each agent's labels (Hello.labels: a JSON object, keys sorted) and
    // whether it opted out of blocks on all servers (Hello.fleet_block_opt_out).
    version: 7,
    sql: `ALTER TABLE agents ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE agents ADD COLUMN fleet_block_opt_out INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    // The networks a BLOCK_IP covers or an UNBLOCK_IP lifted (ActionResult.networks: a JSON array).
    version: 8,
    sql: `ALTER TABLE actions ADD COLUMN networks TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    // What each agent's host is (Hello.host_facts): a JSON HostFactsRecord
    // (controller/host/host-facts.ts), the boot time in ms; NULL when its
    // last Hello had none.
    version: 9,
    sql: `ALTER TABLE agents ADD COLUMN host_facts TEXT;`,
  },
];
