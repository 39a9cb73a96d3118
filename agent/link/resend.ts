import type { AgentMessage } from "../../gen/secarc/v1/agent_service_pb.js";
import type { Logger } from "../../common/log.js";
import { drained, writeMessage, type Session } from "./link-session.js";

/** Where the messages to resend after a reconnect come from (the outbox). */
export interface PendingSource {
  page(afterSeq: number, limit: number): Array<{ seq: number; message: AgentMessage }>;
  lastSeq(): number;
}

/** Messages read from the outbox at a time when resending. */
const RESEND_PAGE = 256;

/**
 * Resends the outbox up to `upTo` (its last seq at Welcome; later entries
 * go live), page by page, oldest first, waiting for 'drain' when grpc-js
 * buffers are full; stops as soon as the session is no longer current.
 */
export async function resendPending(
  session: Session,
  upTo: number,
  limit: number,
  deps: { pending: PendingSource; current: (session: Session) => boolean; logger: Logger },
): Promise<void> {
  const { pending, current, logger } = deps;
  let after = 0;
  let sent = 0;
  while (current(session) && after < upTo) {
    const page = pending.page(after, RESEND_PAGE).filter((entry) => entry.seq <= upTo);
    if (page.length === 0) break;
    for (const entry of page) {
      if (!current(session)) return;
      after = entry.seq;
      if (writeMessage(session, entry.message, limit, logger)) sent += 1;
    }
    if (session.call.writableNeedDrain) await drained(session, () => current(session));
  }
  if (sent > 0) logger.info({ resent: sent }, "outbox resent");
}
