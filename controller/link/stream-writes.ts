import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, isSecarcError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { AgentMessage } from "../../gen/secarc/v1/agent_service_pb.js";
import { sourceRecords } from "../domain/detector-blind.js";
import type { EventBus } from "../domain/events.js";
import type { StoreHealth } from "../store/store-health.js";
import type { StoreOperations } from "../store/store.js";
import { createClockWatch } from "./clock-skew.js";
import type { MessageChannel } from "./message-channel.js";
import { fencedStatus, type StreamReplica } from "./stream-replica.js";
import type { StreamContext } from "./stream-session.js";
import type { WriteWindow } from "./write-window.js";

/**
 * A stream's `track`: the write runs in the stream's window of the group
 * commit (behind the session fence, with replicas) and `then` after its
 * commit. A failed write ends the stream, so that nothing after it is
 * acked: fenced (a newer stream holds the agent) is ABORTED; refused (an alert id of another agent) is
 * PERMISSION_DENIED; a storage error (disk full, server gone) goes to the
 * store's health and ends it UNAVAILABLE, the agent keeps its alerts and
 * retries.
 */
export function createStreamTrack(deps: { window: WriteWindow; out: Pick<MessageChannel<unknown>, "close" | "closed">; log: Logger; storeHealth?: StoreHealth | undefined; replica?: StreamReplica | undefined }): StreamContext["track"] {
  const { out, log, replica } = deps;
  return (write, then, prefetched) => {
    const fence = replica?.prefetched();
    const all = fence && prefetched ? [...fence, ...prefetched] : (fence ?? prefetched);
    deps.window.run(replica ? replica.wrap(write) : write, all).then(
      (value) => then(value),
      (err: unknown) => {
        const fenced = fencedStatus(err);
        if (fenced) {
          out.close(fenced); // another stream holds the agent now: nothing is acked here
          log.info({ err: describeError(err) }, "write fenced; ending the stream");
        } else if (isSecarcError(err, "refused")) {
          out.close(new ConnectError(describeError(err), Code.PermissionDenied));
          log.error({ err: describeError(err) }, "store write refused; ending the stream");
        } else if (deps.storeHealth?.failed(err, "link")) {
          // Nothing is acked: the agent keeps its alerts and resends them on its next stream.
          if (!out.closed) log.warn({ err: describeError(err) }, "store cannot be written; ending the stream (the agent retries)");
          out.close(new ConnectError(`${deps.storeHealth.view().detail}; not acknowledged, retry later`, Code.Unavailable));
        } else {
          out.close(new ConnectError(`store write failed: ${describeError(err)}`, Code.Unavailable));
          log.error({ err: describeError(err) }, "store write failed; ending the stream");
        }
      },
    );
  };
}

/**
 * What every message of an agent session keeps up to date besides its own
 * content: the agent's last-seen time (written at most every half heartbeat
 * interval), its clock skew (from heartbeats' send times) — both, with
 * replicas, through `seen` and `skew`, outside the group commit — and its
 * detector sources (when a heartbeat carries them).
 */
export function createStreamUpkeep(
  c: Pick<StreamContext, "log" | "track">,
  deps: {
    events: EventBus;
    heartbeatIntervalMs: number;
    storedSkewMs: () => number | undefined;
    connectedAt: number;
    /** With replicas: the last-seen time and the clock skew go outside the group commit (stream-replica.ts); false before the claim. */
    seen?: ((at: number) => boolean) | undefined;
    skew?: ((skewMs: number) => boolean) | undefined;
  },
) {
  let lastSeenWritten = deps.connectedAt;
  let clockWatch: ((sentAtMs: number, receivedAtMs: number) => void) | undefined;
  return (message: AgentMessage, agentId: string, at: Date): void => {
    if (at.getTime() - lastSeenWritten >= deps.heartbeatIntervalMs / 2) {
      lastSeenWritten = at.getTime();
      if (!deps.seen?.(lastSeenWritten)) c.track((tx: StoreOperations) => tx.agentSeen(agentId, at), () => {});
    }
    if (message.payload.case !== "heartbeat") return;
    const heartbeat = message.payload.value;
    if (heartbeat.sentAt) {
      clockWatch ??= createClockWatch({ log: c.log, agentId, track: c.track, storedSkewMs: deps.storedSkewMs(), storeSkew: deps.skew });
      clockWatch(timestampMs(heartbeat.sentAt), at.getTime());
    }
    if (heartbeat.detectorSources.length > 0) {
      const sources = sourceRecords(heartbeat.detectorSources);
      c.track((tx) => tx.setDetectorSources(agentId, sources), () => deps.events.publish({ type: "sources", agentId }));
    }
  };
}
