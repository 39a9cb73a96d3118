import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { CHANNELS } from "../store/postgres-replica-schema.js";
import type { PgSql } from "../store/postgres-types.js";

/**
 * Telegram's webhook on replicas: Telegram posts each update to one URL
 * (a load balancer in front of the replicas) and retries it, to whichever
 * replica answers, until one answers 200. Every replica therefore serves
 * the webhook, but it only stores the update (`telegram_inbox`, keyed by
 * update_id, so a retried update is stored once) and answers 200 once it
 * is committed; a trigger NOTIFYs `secarc_telegram_inbox`. The replica
 * holding the Telegram lease handles the inbox in update_id order with its
 * bridge (`consumeInbox`), so taps on any replica are handled by the one
 * voice, in order, and each once (telegram_updates).
 */
export interface WebhookInboxOptions {
  sql: PgSql;
  logger: Logger;
  replicaId: string;
  /** telegram.webhook: where to listen, the path, and the secret Telegram echoes. */
  webhook: { host: string; port: number; path: string; secretToken?: string | undefined };
}

export interface WebhookInbox {
  /** The port it listens on (webhook.port, or the one chosen for 0). */
  readonly port: number;
  stop(): Promise<void>;
}

/** Telegram's updates are a few KiB; anything far larger is not one. */
const MAX_BODY_BYTES = 1 << 20;
const SECRET_HEADER = "x-telegram-bot-api-secret-token";

export async function startWebhookInbox(options: WebhookInboxOptions): Promise<WebhookInbox> {
  const { sql, webhook, replicaId } = options;
  const log = options.logger.child({ component: "telegram-webhook" });
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number) => void res.writeHead(status, { "content-type": "application/json" }).end(status === 200 ? "{}" : "");
    if (req.method !== "POST" || req.url !== webhook.path) return answer(404);
    if (webhook.secretToken !== undefined && !sameSecret(webhook.secretToken, req.headers[SECRET_HEADER])) {
      log.warn({ remote: req.socket.remoteAddress }, "telegram webhook: a request without the secret token was refused");
      return answer(403);
    }
    let update: { update_id: number };
    try {
      update = parseUpdate(await readBody(req));
    } catch (err) {
      log.warn({ err: describeError(err), remote: req.socket.remoteAddress }, "telegram webhook: not an update; refused");
      return answer(err instanceof BodyTooLarge ? 413 : 400);
    }
    try {
      await sql`INSERT INTO telegram_inbox (update_id, body, received_at, replica_id)
        VALUES (${update.update_id}, ${sql.json(update as never)}, secarc_now_ms(), ${replicaId}) ON CONFLICT (update_id) DO NOTHING`;
      answer(200);
    } catch (err) {
      // Telegram retries: the update is not lost, it comes again (here or to another replica).
      log.error({ err: describeError(err), updateId: update.update_id }, "telegram webhook: the update could not be stored; Telegram sends it again");
      answer(503);
    }
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new SecarcError("config_invalid", `telegram.webhook: cannot listen on ${webhook.host}:${webhook.port}: ${describeError(err)}`, { cause: err })));
    server.listen(webhook.port, webhook.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: webhook.host, port, path: webhook.path }, "telegram webhook served here; the replica holding the Telegram lease handles its updates");
  return {
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

export interface InboxConsumerOptions {
  sql: PgSql;
  logger: Logger;
  /** Handles one update (the bridge's bot.handleUpdate); its failures are the bridge's to log. */
  handle(update: { update_id: number }): Promise<void>;
  /** How often the inbox is looked at without a NOTIFY (a listener can die silently). Default: 1 s. */
  everyMs?: number;
}

/**
 * The voice's side: handles the stored updates one at a time in update_id
 * order, each removed once handled, on every NOTIFY, after every re-LISTEN
 * and every `everyMs`. Returns the stop, which waits for the update in hand.
 */
export async function consumeInbox(options: InboxConsumerOptions): Promise<{ stop(): Promise<void> }> {
  const { sql, logger } = options;
  const everyMs = options.everyMs ?? 1_000;
  let stopped = false;
  let wake: (() => void) | undefined;
  // A NOTIFY that lands while the inbox is being read is not lost: the next read starts at once.
  let poked = false;
  const poke = () => ((poked = true), wake?.());
  const listening = await sql.listen(CHANNELS.telegramInbox, poke, poke);

  async function drain(): Promise<void> {
    for (;;) {
      const rows = await sql<Array<{ update_id: string; body: { update_id: number } }>>`SELECT update_id, body FROM telegram_inbox ORDER BY update_id LIMIT 100`;
      for (const row of rows) {
        if (stopped) return;
        await options.handle(row.body);
        await sql`DELETE FROM telegram_inbox WHERE update_id = ${row.update_id}`;
      }
      if (rows.length < 100) return;
    }
  }

  const loop = (async () => {
    while (!stopped) {
      poked = false;
      try {
        await drain();
      } catch (err) {
        logger.warn({ err: describeError(err) }, "telegram webhook: the inbox could not be read; tried again");
      }
      if (stopped) return;
      if (poked) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, everyMs);
        wake = () => (clearTimeout(timer), resolve());
      });
      wake = undefined;
    }
  })();

  return {
    async stop() {
      stopped = true;
      poke();
      await loop;
      await listening.unlisten().catch(() => undefined);
    },
  };
}

function sameSecret(expected: string, given: string | string[] | undefined): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

class BodyTooLarge extends Error {}

function parseUpdate(text: string): { update_id: number } {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new SecarcError("input_invalid", "the body is not a JSON object");
  const id = (parsed as { update_id?: unknown }).update_id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) throw new SecarcError("input_invalid", "the body has no valid update_id");
  return parsed as { update_id: number };
}
