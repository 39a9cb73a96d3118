import { create } from "@bufbuild/protobuf";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { AlertKind, AlertState, Severity, SshSessionSchema } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import type { SshSessionConfig } from "./config.js";
import { newLineStats } from "./line-processor.js";
import { ownField } from "./nginx-log-parser.js";
import { createSshRecordProcessor, type SshProcessorDeps, type SshRecordProcessor } from "./ssh-record-processor.js";

/**
 * SSH sessions: an INFO alert for each "Accepted <method> for <user> from
 * <ip> port <port> ssh2" line, with sshd's PID; resolved (new revision,
 * RESOLVED) when the session ends: "Disconnected from user X IP port P",
 * "Received disconnect from IP port P" or pam's "session closed for user X"
 * (matched by PID) — or, when live, when the session's sshd process is gone
 * without such a line (killed, e.g. by the close-session responder: sshd
 * logs nothing then). Answers: ALLOW, CLOSE_SESSION, BLOCK_IP.
 *
 * Only sshd's log is read, so outgoing SSH connections never count.
 */

export type SshSessionSettings = Pick<SshSessionConfig, "maxSessions">;

/** Finds the PID of the sshd serving a client connection when the log line has none (`sshd -E` logs). */
export type SshdPidResolver = (ip: string, port: number) => number | undefined;

/** The start time (clock ticks) of a live, non-zombie process, or undefined when it is gone. */
export type ProcessStartProbe = (pid: number) => bigint | undefined;

export interface SshSessionDeps extends SshProcessorDeps {
  resolvePid?: SshdPidResolver;
  /** Checked every tick to resolve sessions whose sshd is gone. Default: none (replays of past logs). */
  processStart?: ProcessStartProbe;
}

interface Session {
  track: AlertTrack;
  key: string;
  pid: number;
  user: string;
  ip: string;
  port: number;
  method: string;
  /** The sshd's start time when the session began (undefined: not watched). */
  startTicks: bigint | undefined;
}

function connectionKey(ip: string, port: number): string {
  return `${ip} ${port}`;
}

export function createSshSessionProcessor(settings: SshSessionSettings, deps: SshSessionDeps): SshRecordProcessor {
  const stats = newLineStats();
  const byConnection = new Map<string, Session>();
  const byPid = new Map<number, Session>();

  function forget(s: Session): void {
    byConnection.delete(s.key);
    if (s.pid > 0 && byPid.get(s.pid) === s) byPid.delete(s.pid);
  }

  function close(s: Session, at: number): void {
    forget(s);
    deps.emit(sessionAlert(s, at, AlertState.RESOLVED, `SSH session of ${s.user} from ${s.ip} port ${s.port} closed`));
  }

  return createSshRecordProcessor(
    deps,
    {
      event(event, at, logPid, connection) {
        switch (event.type) {
          case "accepted": {
            if (connection?.port === undefined) return;
            stats.events += 1;
            const ip = connection.host;
            const port = connection.port;
            const key = connectionKey(ip, port);
            const pid = logPid ?? deps.resolvePid?.(ip, port) ?? 0;
            const previous = byConnection.get(key);
            if (previous) forget(previous);
            if (byConnection.size >= settings.maxSessions) {
              const oldest = byConnection.values().next().value;
              if (oldest) forget(oldest);
            }
            const startTicks = pid > 0 ? deps.processStart?.(pid) : undefined;
            const user = ownField(event.user);
            const session: Session = { track: newTrack(at, Severity.INFO), key, pid, user, ip, port, method: ownField(event.method), startTicks };
            byConnection.set(key, session);
            if (pid > 0) byPid.set(pid, session);
            deps.emit(sessionAlert(session, at, AlertState.OPEN, `SSH login of ${user} from ${ip} port ${port} (${session.method})`));
            return;
          }
          case "disconnected": {
            if (connection?.port === undefined) return;
            const session = byConnection.get(connectionKey(connection.host, connection.port));
            if (session) close(session, at);
            return;
          }
          case "session-closed": {
            const session = logPid === undefined ? undefined : byPid.get(logPid);
            if (session) close(session, at);
            return;
          }
          default:
            return;
        }
      },
      tick(now) {
        const probe = deps.processStart;
        if (!probe) return;
        // A session whose sshd ended (or whose PID now names another process) is over.
        for (const session of [...byConnection.values()]) {
          if (session.startTicks !== undefined && probe(session.pid) !== session.startTicks) close(session, now);
        }
      },
      finish() {},
    },
    stats,
  );
}

function sessionAlert(s: Session, at: number, state: AlertState, summary: string) {
  return buildAlert(s.track, AlertKind.SSH_SESSION, SHARED_KINDS[AlertKind.SSH_SESSION].answers, at, {
    severity: Severity.INFO,
    state,
    summary,
    subject: { case: "sshSession", value: create(SshSessionSchema, { user: s.user, sourceIp: s.ip, sourcePort: s.port, authMethod: s.method, sshdPid: s.pid }) },
  });
}
