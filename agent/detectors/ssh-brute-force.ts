import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity, SshFailuresSchema } from "../../gen/secarc/v1/alert_pb.js";
import { createBoundedMap } from "./bounded-map.js";
import { ownField } from "./nginx-log-parser.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import { createBurstTracker, type Burst, type BurstChange } from "./burst-tracker.js";
import type { SshBruteForceConfig } from "./config.js";
import { newLineStats } from "./line-processor.js";
import type { SshEvent } from "./ssh-messages.js";
import { createSshRecordProcessor, isIpHost, type SshConnection, type SshProcessorDeps, type SshRecordProcessor } from "./ssh-record-processor.js";

/**
 * SSH brute force: failed logins per source address in a sliding window;
 * WARNING at `warning`, CRITICAL at `critical` (inclusive), one alert per
 * address per burst, resolved when the window empties. Answers: BLOCK_IP,
 * IGNORE, ALLOW (a known host that mistyped a key, for a while); for a host
 * name (sshd without `UseDNS no`) only IGNORE: names are never resolved,
 * so never blocked.
 *
 * What counts is failed attempts, not log lines: sshd (and PAM) report one
 * attempt with several lines ("Invalid user x from A port P", PAM's
 * "authentication failure; ... rhost=A", "Failed password for invalid user
 * x from A port P ssh2", at the end "Connection closed by invalid user x A
 * port P [preauth]"). Every "Failed <method>" line is one attempt; the
 * other failure families (ssh-messages.ts) count one attempt for a
 * connection that has no "Failed" line, such as a refused root or
 * AllowUsers login, or a client that only offered keys, and nothing
 * otherwise. "Failed publickey" is what every client with several keys
 * writes before it succeeds: it counts in `aggressive` mode, and in
 * `normal` mode only when its connection ends without a success. Families
 * of pre-authentication noise (no identification string, bad banner, no
 * matching cipher) count only in `aggressive` mode.
 */

/** A source given as a host name (UseDNS) names no address to block or allow: only Ignore. */
const HOSTNAME_ANSWERS = SHARED_KINDS[AlertKind.SSH_BRUTE_FORCE].answers.filter((answer) => answer === Answer.IGNORE);
const KEEP_USERNAMES = 5;
const MAX_USERNAME_CHARS = 100;
/** Connections remembered for the de-duplication above. */
const MAX_CONNECTIONS = 10_000;

export type SshBruteForceSettings = Pick<SshBruteForceConfig, "window" | "warning" | "critical" | "maxSources"> & Partial<Pick<SshBruteForceConfig, "mode">>;

interface SourceBurst {
  track: AlertTrack | undefined;
  usernames: string[];
}

/** What a connection has shown so far. */
interface ConnectionMark {
  /** Attempts counted for it. */
  counted: number;
  /** It has a counted "Failed" line (later first-attempt markers add nothing). */
  failedLine: boolean;
  /** "Failed publickey" lines not counted yet (normal mode), and the user they named. */
  pendingKeyUser: string | undefined;
  /** It logged in: nothing more counts for it. */
  accepted: boolean;
}

export interface SshBruteForceDeps extends SshProcessorDeps {
  /** Told of each counted attempt (tests, corpus checks). */
  onCount?(host: string, at: number): void;
}

export function createSshBruteForceProcessor(settings: SshBruteForceSettings, deps: SshBruteForceDeps): SshRecordProcessor {
  const stats = newLineStats();
  const aggressive = settings.mode === "aggressive";
  const markOf = createConnectionMarks();
  let pendingUser = "";

  const tracker = createBurstTracker<SourceBurst>({
    windowMs: settings.window,
    warning: settings.warning,
    critical: settings.critical,
    maxKeys: settings.maxSources,
    newExtra: () => ({ track: undefined, usernames: [] }),
    onChange: (change, burst, at) => deps.emit(burstAlert(settings, change, burst, at)),
  });

  function addUser(burst: Burst<SourceBurst>): void {
    const names = burst.extra.usernames;
    if (names[names.length - 1] === pendingUser) return;
    names.push(pendingUser);
    if (names.length > KEEP_USERNAMES) names.shift();
  }

  function count(mark: ConnectionMark, host: string, user: string, at: number): void {
    stats.events += 1;
    mark.counted += 1;
    pendingUser = ownField(user.slice(0, MAX_USERNAME_CHARS));
    deps.onCount?.(host, at);
    tracker.record(host, at, addUser);
  }

  /** The connection ended: keys it offered without a success count once. */
  function ended(mark: ConnectionMark, host: string, at: number): void {
    if (mark.pendingKeyUser !== undefined && mark.counted === 0) count(mark, host, mark.pendingKeyUser, at);
    mark.pendingKeyUser = undefined;
  }

  const counter: FailureCounter = { aggressive, markOf, count, ended };

  return createSshRecordProcessor(
    deps,
    {
      event(event, at, _pid, connection) {
        if (connection === undefined) return;
        switch (event.type) {
          case "failure":
            countFailure(counter, event, at, connection);
            return;
          case "accepted": {
            const mark = markOf(connection);
            mark.accepted = true;
            mark.pendingKeyUser = undefined;
            return;
          }
          case "ended":
            ended(markOf(connection), connection.host, at);
            return;
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

/** The alert of a burst of failed logins from one source, as it changes. */
function burstAlert(settings: SshBruteForceSettings, change: BurstChange, burst: Burst<SourceBurst>, at: number) {
  const extra = burst.extra;
  if (extra.track === undefined) extra.track = newTrack(at, Severity.WARNING);
  const resolved = change === "resolved";
  const severity = burst.level === 2 ? Severity.CRITICAL : Severity.WARNING;
  const count = resolved ? burst.peak : burst.count;
  const ip = isIpHost(burst.key);
  return buildAlert(extra.track, AlertKind.SSH_BRUTE_FORCE, ip ? SHARED_KINDS[AlertKind.SSH_BRUTE_FORCE].answers : HOSTNAME_ANSWERS, at, {
    severity,
    state: resolved ? AlertState.RESOLVED : AlertState.OPEN,
    summary: `${count} failed SSH logins from ${ip ? "" : "host name "}${burst.key} within ${settings.window / 1000}s${resolved ? " (ended)" : ""}`,
    subject: {
      case: "sshFailures",
      value: create(SshFailuresSchema, {
        ...(ip ? { sourceIp: burst.key } : { sourceHost: burst.key }),
        count,
        window: durationFromMs(settings.window),
        usernames: [...extra.usernames],
        firstSeen: timestampFromMs(burst.firstSeen),
        lastSeen: timestampFromMs(burst.lastSeen),
      }),
    },
  });
}

/** What each connection has shown so far, by connection key (bounded). */
function createConnectionMarks(): (connection: SshConnection) => ConnectionMark {
  const connections = createBoundedMap<string, ConnectionMark>(MAX_CONNECTIONS);
  /**
   * Markers with neither port nor PID ("User X from H not allowed ..." in an
   * `sshd -E` file), by host: the next connection of that host that names
   * its port is theirs (sshd writes the marker, then the Failed line).
   */
  const unclaimed = createBoundedMap<string, ConnectionMark>(MAX_CONNECTIONS);
  const fresh = (): ConnectionMark => ({ counted: 0, failedLine: false, pendingKeyUser: undefined, accepted: false });
  return (connection) => {
    const key = connection.key;
    if (connection.port === undefined && !key.startsWith("pid ")) {
      const mark = fresh();
      unclaimed.set(connection.host, mark);
      return mark;
    }
    let mark = connections.get(key);
    if (mark === undefined) {
      mark = (unclaimed.size > 0 ? unclaimed.get(connection.host) : undefined) ?? fresh();
      unclaimed.delete(connection.host);
      connections.set(key, mark);
    }
    return mark;
  };
}

/** How countFailure counts: the processor's own steps. */
interface FailureCounter {
  aggressive: boolean;
  markOf(connection: SshConnection): ConnectionMark;
  count(mark: ConnectionMark, host: string, user: string, at: number): void;
  ended(mark: ConnectionMark, host: string, at: number): void;
}

/** One failure line: counts an attempt, or marks keys offered (normal mode), by the rules at the top of this file. */
function countFailure(counter: FailureCounter, event: Extract<SshEvent, { type: "failure" }>, at: number, connection: SshConnection): void {
  const { aggressive, markOf, count, ended } = counter;
  if (event.level === "aggressive" && !aggressive) {
    if (event.ends) ended(markOf(connection), connection.host, at);
    return;
  }
  const mark = markOf(connection);
  if (mark.accepted) return;
  if (event.family === "failed" || (event.family === "failed-publickey" && aggressive)) {
    const first = mark.counted === 1 && !mark.failedLine;
    mark.failedLine = true;
    // The connection's marker line already counted this first attempt.
    if (!first) count(mark, connection.host, event.user, at);
    return;
  }
  if (event.family === "failed-publickey") {
    mark.pendingKeyUser = ownField(event.user.slice(0, MAX_USERNAME_CHARS));
    return;
  }
  if (mark.counted === 0) count(mark, connection.host, event.user, at);
  if (event.ends) ended(mark, connection.host, at);
}
