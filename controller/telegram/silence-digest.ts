import { AlertState } from "../../gen/secarc/v1/alert_pb.js";
import type { SilenceEndedListener, SilenceWatch } from "../domain/silence-watch.js";
import { matchesSilence, silenceEnd, type Silence, type SilenceSubject } from "../domain/silences.js";
import type { AlertRecord, Store } from "../store/store.js";
import type { RoutedAlert } from "./route-scope.js";
import type { InlineButton } from "./alert-message.js";
import { kindName } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import { encodeCallback } from "./callback-data.js";
import { alertRef } from "./command-views.js";
import type { TelegramConfig } from "./config.js";
import type { Translations } from "./i18n/translations.js";
import { Priority, type TelegramStore } from "../store/telegram-store.js";
import { renderDigest } from "./send-digest.js";
import { describeSilence } from "./silence-commands.js";
import { splitMessage } from "./text-format.js";

/**
 * The `digest_message_id` of an alert shown only in the digest after a
 * silence: updates of it edit nothing (it is reachable from the digest's Show
 * buttons and from /alerts), as for a storm digest. The digest itself goes
 * out as a queued text, whose message id is not kept.
 */
export const SILENCE_DIGEST_MESSAGE_ID = 0;
/** Show buttons in a silence's digest; the rest are in /alerts. */
const MAX_SHOW_BUTTONS = 20;
const MAX_OPEN_SCAN = 10_000;

/** The labels of an agent, as its last Hello carried them. */
export type AgentLabels = (agentId: string) => Readonly<Record<string, string>>;

export interface SilenceHold {
  /** Whether a silence in force keeps this open alert from chats that do not show it yet. */
  holds(record: RoutedAlert): boolean;
  /** Until when silences held (or hold) the alert, for the no-answer policy. */
  heldUntil(record: RoutedAlert, now: number): number | undefined;
  subjectOf(record: RoutedAlert): SilenceSubject;
}

export function createSilenceHold(watch: SilenceWatch, labelsOf: AgentLabels): SilenceHold {
  const subjectOf = (record: RoutedAlert): SilenceSubject => ({ agentId: record.agentId, kind: record.alert.kind, labels: labelsOf(record.agentId) });
  return {
    subjectOf,
    holds: (record) => record.alert.state === AlertState.OPEN && watch.silencing(subjectOf(record)) !== undefined,
    heldUntil(record, now) {
      const subject = subjectOf(record);
      const since = watch.heldUntil(subject, record.receivedAt.getTime());
      const current = watch.silencing(subject);
      const until = Math.max(since ?? 0, current && silenceEnd(current) > now ? silenceEnd(current) : 0);
      return until > 0 ? until : undefined;
    },
  };
}

export interface SilenceDigestDeps {
  store: Store;
  messages: TelegramStore;
  config: TelegramConfig;
  hold: SilenceHold;
  /** The chats alerts go to. */
  chatIds: () => readonly number[];
  /** Whether an alert is routed to a chat (telegram.routes). Default: every alert to every chat. */
  routedTo?: (chatId: number, record: AlertRecord) => boolean;
  /** The alert as the bridge last read it (RouteScope.recall); undefined: not read. */
  recall: (alertId: string) => RoutedAlert | undefined;
  now: () => number;
  kick: () => void;
}

/**
 * When a silence ends: the alerts it held that are still open, and that no
 * other silence holds now, go to each chat as one message — counts per server
 * and kind, a Show button each — never one message per alert. A command
 * silence that held nothing still open says so in one line; a window that
 * held nothing posts nothing.
 */
export function createSilenceDigest(deps: SilenceDigestDeps): SilenceEndedListener {
  const { store, messages, hold, now } = deps;
  return async (silence) => {
    const end = silenceEnd(silence);
    const open = (await store.listOpenAlerts(MAX_OPEN_SCAN))
      .filter((r) => r.receivedAt.getTime() >= silence.startsAt && r.receivedAt.getTime() < end)
      .filter((r) => matchesSilence(silence.matcher, hold.subjectOf(r)) && !hold.holds(r))
      .reverse();
    await messages.transaction(async (tx) => {
      for (const chatId of deps.chatIds()) {
        const held: AlertRecord[] = [];
        for (const r of open) if ((deps.routedTo?.(chatId, r) ?? true) && (await tx.getMessage(r.alertId, chatId)) === undefined) held.push(r);
        if (held.length === 0 && silence.origin === "window") continue;
        const t = chatTranslations(deps.config, chatId);
        const parts = renderSilenceDigest(silence, held, t);
        for (const [index, text] of parts.entries()) await tx.enqueueText(chatId, index === parts.length - 1 ? { text, keyboard: showButtons(held, t) } : { text }, Priority.fresh, now());
        for (const record of held) {
          await tx.saveRendered({
            alertId: record.alertId,
            chatId,
            messageId: undefined,
            digestMessageId: SILENCE_DIGEST_MESSAGE_ID,
            renderedVersion: record.version,
            renderedPhase: "digest:open",
            renderedHash: undefined,
            firstSeverity: record.alert.severity,
            renderedAt: now(),
          });
        }
      }
    });
    deps.kick();
  };
}

/** The bridge's hook: whether an alert is held now, and the digest subscribed to the watch until `stop`. */
export function attachSilences(deps: SilenceDigestDeps & { watch: SilenceWatch }): { held(alertId: string): boolean; stop(): void } {
  const stop = deps.watch.onEnded(createSilenceDigest(deps));
  return {
    held(alertId) {
      const record = deps.recall(alertId);
      return record !== undefined && deps.hold.holds(record);
    },
    stop,
  };
}

/** The digest's messages (HTML): the silence that ended, then per server how many alerts of which kinds are still open. */
export function renderSilenceDigest(silence: Silence, held: readonly AlertRecord[], t: Translations): string[] {
  const head = t.silence.ended(describeSilence(silence, t));
  if (held.length === 0) return [`${head}\n${t.silence.noneOpen}`];
  const byAgent = new Map<string, Map<string, number>>();
  for (const record of held) {
    const kinds = byAgent.get(record.agentId) ?? new Map<string, number>();
    const name = kindName(record.alert.kind, t);
    kinds.set(name, (kinds.get(name) ?? 0) + 1);
    byAgent.set(record.agentId, kinds);
  }
  return splitMessage([head, t.silence.stillOpen({ count: String(held.length) }), ...renderDigest(byAgent, t)].join("\n"), t.truncated);
}

function showButtons(held: readonly AlertRecord[], t: Translations): InlineButton[][] {
  const buttons: InlineButton[] = [];
  for (const record of held.slice(0, MAX_SHOW_BUTTONS)) {
    const data = encodeCallback({ type: "open", alertId: record.alertId });
    if (data) buttons.push({ text: t.command.openButton({ n: alertRef(record.alertId) || "?" }), callback_data: data });
  }
  const rows: InlineButton[][] = [];
  for (let i = 0; i < buttons.length; i += 4) rows.push(buttons.slice(i, i + 4));
  return rows;
}
