import type { X509Certificate } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActionDelivery } from "../domain/action-requests.js";
import type { ActionRecord } from "../store/store.js";

/** One accepted stream (after its Hello), as the registry sees it. */
export interface LiveSession {
  readonly agentId: string;
  readonly sessionId: string;
  /** The verified client certificate the stream's connection presented (checked against the CRL when it changes). */
  readonly certificate?: X509Certificate | undefined;
  /** A probe session (Hello.probe): never attached here, never given actions. */
  readonly probe?: boolean;
  /** When the agent last sent anything on this stream (clock of the controller). */
  readonly lastMessageAt: number;
  /** Writes the action to this stream and marks it sent; false when the stream has ended. */
  sendAction(action: ActionRecord): boolean;
  /** Ends the stream with `error` as its status. */
  end(error: ConnectError): void;
}

/**
 * The one live session per agent. Attaching a session for an agent that has
 * one ends the older with ABORTED before the newer is visible, so an action
 * is always handed to exactly one stream: the newest.
 */
export interface SessionRegistry extends ActionDelivery {
  /** Makes `session` its agent's live session; returns the session it replaced, already ended. */
  attach(session: LiveSession): LiveSession | undefined;
  /** Forgets `session` if it is still its agent's live one; true then (the agent is now offline). */
  detach(session: LiveSession): boolean;
  get(agentId: string): LiveSession | undefined;
  agentIds(): string[];
  /** Every live session. */
  sessions(): LiveSession[];
  /** Ends every live session with `error`; each detaches itself as its stream ends. */
  endAll(error: ConnectError): void;
}

export function createSessionRegistry(): SessionRegistry {
  const live = new Map<string, LiveSession>();
  return {
    attach(session) {
      const older = live.get(session.agentId);
      live.set(session.agentId, session);
      if (older && older !== session) {
        older.end(new ConnectError(`a newer stream (session ${session.sessionId}) for agent ${session.agentId} replaced this one`, Code.Aborted));
        return older;
      }
      return undefined;
    },
    detach(session) {
      if (live.get(session.agentId) !== session) return false;
      live.delete(session.agentId);
      return true;
    },
    get: (agentId) => live.get(agentId),
    agentIds: () => [...live.keys()],
    sessions: () => [...live.values()],
    deliver(action: ActionRecord) {
      return live.get(action.agentId)?.sendAction(action) ?? false;
    },
    endAll(error) {
      const sessions = [...live.values()];
      for (const session of sessions) session.end(error);
    },
  };
}
