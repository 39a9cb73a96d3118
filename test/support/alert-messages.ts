import type postgres from "postgres";
import type { FakeBotApi } from "../../testing/fake-bot-api.js";
import { labels } from "./telegram-harness.js";

/** A stored alert as its message should show it. */
export interface AlertShown {
  alertId: string;
  kind: number;
  /** The agent the alert is from. */
  agentId: string;
  /** The state of the action taken on it ("pending", "sent", "done", …); undefined when none. */
  actionState: string | undefined;
}

/** What the message of an alert must say (a substring of its text) and, when set, whether it offers the Block IP button. */
export type ExpectedMessage = (alert: AlertShown) => { says: string; offersBlock?: boolean };

/** The mark the bridge adds under a message sent again because an earlier send got no answer (in flight when a voice died, or given up). */
const SENT_AGAIN = "↻ Sent again: an earlier send got no answer";

/**
 * What is wrong with how the alerts stored in a controller's PostgreSQL
 * database are shown in one chat of the fake Bot API: empty when every
 * alert is in one message of its own (telegram_messages, no digest), no
 * message shows two alerts, each message says what `expected` wants, and
 * no message shows an alert without being recorded — except repeats of a
 * send in flight when a voice died, at most one per message marked as
 * sent again.
 */
export async function alertMessageProblems(db: postgres.Sql, api: FakeBotApi, chatId: number, expected: ExpectedMessage): Promise<string[]> {
  const alerts = await db<Array<{ alert_id: string; kind: number; agent_id: string }>>`SELECT alert_id, kind, agent_id FROM alerts`;
  const rows = await db<Array<{ alert_id: string; message_id: number | null; digest_message_id: number | null }>>`
    SELECT alert_id, message_id::int AS message_id, digest_message_id::int AS digest_message_id FROM telegram_messages WHERE chat_id = ${chatId}`;
  const states = new Map((await db<Array<{ alert_id: string; state: string }>>`SELECT alert_id, state FROM actions`).map((r) => [r.alert_id, r.state]));
  const rowOf = new Map(rows.map((r) => [r.alert_id, r]));
  const found: string[] = [];
  const recorded = new Set<number>();
  let marked = 0;
  for (const alert of alerts) {
    const row = rowOf.get(alert.alert_id);
    if (!row || row.message_id === null || row.digest_message_id !== null) {
      found.push(`${alert.alert_id}: not in a message of its own (${JSON.stringify(row)})`);
      continue;
    }
    if (recorded.has(row.message_id)) found.push(`${alert.alert_id}: message ${row.message_id} shows another alert too`);
    recorded.add(row.message_id);
    const message = api.message(chatId, row.message_id);
    const text = message?.text ?? "";
    if (text.includes(SENT_AGAIN)) marked += 1;
    const shown: AlertShown = { alertId: alert.alert_id, kind: alert.kind, agentId: alert.agent_id, actionState: states.get(alert.alert_id) };
    const want = expected(shown);
    if (!text.includes(want.says)) found.push(`${alert.alert_id} (action ${shown.actionState ?? "none"}): "${want.says}" not in ${JSON.stringify(text)}`);
    if (want.offersBlock !== undefined && labels(message).includes("Block IP") !== want.offersBlock) {
      found.push(`${alert.alert_id} (action ${shown.actionState ?? "none"}): ${want.offersBlock ? "does not offer" : "still offers"} Block IP: ${JSON.stringify(text)}`);
    }
  }
  const unrecorded = api.messages.filter((m) => m.chatId === chatId && !recorded.has(m.messageId));
  if (unrecorded.length > marked) {
    found.push(`${unrecorded.length} message(s) show no stored alert, ${marked} marked as sent again: ${unrecorded.map((m) => JSON.stringify(m.text.slice(0, 80))).join(", ")}`);
  }
  return found;
}
