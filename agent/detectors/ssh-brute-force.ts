import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity, SshFailuresSchema } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import { createBurstTracker, type Burst, type BurstChange } from "./burst-tracker.js";
import type { SshBruteForceConfig } from "./config.js";
import { newLineStats } from "./line-processor.js";
import { createSshRecordProcessor, type SshProcessorDeps, type SshRecordProcessor } from "./ssh-record-processor.js";

/**
 * SSH brute force: failed logins per source address in a sliding window;
 * WARNING at `warning`, CRITICAL at `critical` (inclusive), one alert per
 * address per burst, resolved when the window empties. Answers: BLOCK_IP,
 * IGNORE, ALLOW (a known host that mistyped a key, for a while).
 *
 * What counts is failed attempts, not log lines: sshd reports one attempt
 * with several lines ("Invalid user x from A port P", then "Failed password
 * for invalid user x from A port P ssh2", and at the end "Connection closed
 * by invalid user x A port P [preauth]"). Every "Failed <method>" line is one
 * attempt; the other lines ("Invalid user", "Connection closed by
 * authenticating user ... [preauth]", "maximum authentication attempts
 * exceeded") count one attempt for a connection that has no "Failed" line,
 * such as a client that only offered keys, and nothing otherwise.
 */

export const SSH_BRUTE_FORCE_ANSWERS = [Answer.BLOCK_IP, Answer.IGNORE, Answer.ALLOW] as const;
const KEEP_USERNAMES = 5;
const MAX_USERNAME_CHARS = 100;
/** Connections remembered for the de-duplication above. */
const MAX_CONNECTIONS = 10_000;

export type SshBruteForceSettings = Pick<SshBruteForceConfig, "window" | "warning" | "critical" | "maxSources">;

interface SourceBurst {
  track: AlertTrack | undefined;
  usernames: string[];
}

/** Per connection: 1 = counted once by a marker line; 2 = has a counted "Failed" line. */
type ConnectionMark = 1 | 2;

export function createSshBruteForceProcessor(settings: SshBruteForceSettings, deps: SshProcessorDeps): SshRecordProcessor {
  const stats = newLineStats();
  const connections = new Map<string, ConnectionMark>();
  let pendingUser = "";

  function onChange(change: BurstChange, burst: Burst<SourceBurst>, at: number): void {
    const extra = burst.extra;
    if (extra.track === undefined) extra.track = newTrack(at, Severity.WARNING);
    const resolved = change === "resolved";
    const severity = burst.level === 2 ? Severity.CRITICAL : Severity.WARNING;
    const count = resolved ? burst.peak : burst.count;
    deps.emit(
      buildAlert(extra.track, AlertKind.SSH_BRUTE_FORCE, SSH_BRUTE_FORCE_ANSWERS, at, {
        severity,
        state: resolved ? AlertState.RESOLVED : AlertState.OPEN,
        summary: `${count} failed SSH logins from ${burst.key} within ${settings.window / 1000}s${resolved ? " (ended)" : ""}`,
        subject: {
          case: "sshFailures",
          value: create(SshFailuresSchema, {
            sourceIp: burst.key,
            count,
            window: durationFromMs(settings.window),
            usernames: [...extra.usernames],
            firstSeen: timestampFromMs(burst.firstSeen),
            lastSeen: timestampFromMs(burst.lastSeen),
          }),
        },
      }),
    );
  }

  const tracker = createBurstTracker<SourceBurst>({
    windowMs: settings.window,
    warning: settings.warning,
    critical: settings.critical,
    maxKeys: settings.maxSources,
    newExtra: () => ({ track: undefined, usernames: [] }),
    onChange,
  });

  function addUser(burst: Burst<SourceBurst>): void {
    const names = burst.extra.usernames;
    if (names[names.length - 1] === pendingUser) return;
    names.push(pendingUser);
    if (names.length > KEEP_USERNAMES) names.shift();
  }

  function count(ip: string, user: string, at: number): void {
    stats.events += 1;
    pendingUser = user.slice(0, MAX_USERNAME_CHARS);
    tracker.record(ip, at, addUser);
  }

  function mark(key: string, value: ConnectionMark): void {
    connections.delete(key);
    connections.set(key, value);
    if (connections.size > MAX_CONNECTIONS) {
      const oldest = connections.keys().next().value;
      if (oldest !== undefined) connections.delete(oldest);
    }
  }

  return createSshRecordProcessor(
    deps,
    {
      event(event, at) {
        switch (event.type) {
          case "failed": {
            const key = `${event.ip} ${event.port}`;
            const seen = connections.get(key);
            mark(key, 2);
            // The connection's marker line already counted this first attempt.
            if (seen === 1) return;
            count(event.ip, event.user, at);
            return;
          }
          case "invalid-user":
          case "preauth-closed":
          case "max-attempts": {
            const key = `${event.ip} ${event.port}`;
            if (connections.has(key)) return;
            mark(key, 1);
            count(event.ip, event.user, at);
            return;
          }
          default:
            return;
        }
      },
      tick: (now) => tracker.sweep(now),
      finish: () => tracker.flush(),
    },
    stats,
  );
}
