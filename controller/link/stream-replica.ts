import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, isSecarcError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { AgentClaim } from "../replicas/agent-sessions.js";
import type { ReplicaLinkHooks } from "../replicas/replica-coordination.js";
import type { ActionRecord, Prefetched } from "../store/store.js";

/**
 * One agent stream's part in the replicas (controller/replicas/), for the
 * stream handler on PostgreSQL: the stream claims its agent before writing
 * anything for it, every write it queues carries the session fence, its
 * actions come from the action router (which marks them sent inside the
 * fence), and at its end it records the agent offline only while it still
 * held it. Without replicas (SQLite), the handler does not create one.
 */
export interface StreamReplica {
  /** Claims the agent for this stream (a newer epoch; the older stream, on any replica, ends). */
  claim(agentId: string): Promise<void>;
  /** `write` behind the session fence (after the claim); refused with "fenced" once another stream holds the agent. */
  wrap<T, Ops extends object>(write: (tx: Ops) => Promise<T>): (tx: Ops) => Promise<T>;
  /** What the group commit checks for all its writes at once before they run: this stream's fence (after the claim). */
  prefetched(): Prefetched[] | undefined;
  /** After the Welcome: the agent's unfinished actions, except those it has results for, go out through the router. */
  welcomed(finishedActionIds: readonly string[]): void;
  /** The agent's last-seen time `at` (ms), written by the replicas with the others' (behind the fence); false before the claim. */
  seen(at: number): boolean;
  /** The agent's clock skew, written by the replicas the same way; false before the claim. */
  skew(skewMs: number): boolean;
  /** At the stream's end, after its last write: gives the claim up. */
  release(): Promise<void>;
}

export interface StreamReplicaDeps {
  hooks: ReplicaLinkHooks;
  sessionId: string;
  log: Logger;
  /** Writes an action to the stream only (the router marks it sent); false when the stream cannot take it now. */
  writeAction(action: ActionRecord): boolean;
  /** Ends the stream with `error`. */
  end(error: ConnectError): void;
}

/** A "fenced" refusal as the agent sees it: ABORTED, like a stream another one replaced. */
export function fencedStatus(err: unknown): ConnectError | undefined {
  return isSecarcError(err, "fenced") ? new ConnectError(describeError(err), Code.Aborted) : undefined;
}

export function createStreamReplica(deps: StreamReplicaDeps): StreamReplica {
  const { hooks, sessionId, log } = deps;
  let claim: AgentClaim | undefined;
  return {
    async claim(agentId) {
      claim = await hooks.claim(agentId, sessionId, {
        send: deps.writeAction,
        lost: (reason) => deps.end(new ConnectError(reason, Code.Aborted)),
      });
      log.debug({ agentId, epoch: claim.epoch }, "agent session claimed");
    },
    wrap(write) {
      const held = claim;
      if (!held) return write;
      return hooks.fence(held, write);
    },
    prefetched() {
      return claim && [{ prefetch: hooks.fencePrefetch, payload: claim }];
    },
    welcomed(finishedActionIds) {
      if (!claim) return;
      const agentId = claim.agentId;
      hooks.welcomed(claim, finishedActionIds).catch((err: unknown) => log.warn({ agentId, err: describeError(err) }, "could not send the unfinished actions (the router's sweep sends them)"));
    },
    seen(at) {
      if (!claim) return false;
      hooks.seen(claim, at);
      return true;
    },
    skew(skewMs) {
      if (!claim) return false;
      hooks.skew(claim, skewMs);
      return true;
    },
    async release() {
      if (!claim) return;
      try {
        await claim.release();
      } catch (err) {
        log.warn({ agentId: claim.agentId, err: describeError(err) }, "could not release the agent session (the next claim takes it over)");
      }
    },
  };
}
