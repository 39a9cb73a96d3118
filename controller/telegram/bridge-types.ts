import type { TelegramConnection } from "./bot-runner.js";
import type { TelegramSendHealth } from "./failure-watch.js";

/** One step of a test alert's delivery past the controller (a ProbeHop). */
export interface ProbeHopResult {
  name: string;
  target: string;
  ok: boolean;
  detail: string;
  durationMs: number;
}

export interface TelegramBridge {
  /**
   * Sends the test message of a probe's test alert to every configured chat,
   * once each, and resolves to one hop per chat when each has been sent or
   * has failed (at most PROBE_WAIT_MS after `receivedAt`).
   */
  probe(input: { agentId: string; alertId: string; receivedAt: number }): Promise<ProbeHopResult[]>;
  /** Whether Telegram sends are failing (the failure watch). */
  sendHealth(): TelegramSendHealth;
  /** Where the bridge stands with the Bot API: token accepted, refused, unreachable. */
  connection(): TelegramConnection;
  /** Messages and edits waiting in the send queue. */
  queueDepth(): Promise<number>;
  /** Sends a controller warning (e.g. the store is full) to every chat once, without the store; false where it failed. */
  warn(text: string): Promise<boolean[]>;
  /** Queues what the stored alerts need again, as at start (after the store could not be written for a while). */
  resume(): void;
  stop(): Promise<void>;
}
