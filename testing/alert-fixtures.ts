import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { newId } from "../common/ids.js";

/**
 * Example alerts of every kind, as agents raise them. Used by the tests, the
 * benchmark and the demo (which has no real servers to watch).
 */
export function sampleAlert(kind: AlertKind, options: { id?: string; at?: number; severity?: Severity; revision?: number; state?: AlertState } = {}): Alert {
  const at = options.at ?? Date.now();
  const base = {
    id: options.id ?? newId(at),
    revision: options.revision ?? 1,
    kind,
    state: options.state ?? AlertState.OPEN,
    detectedAt: timestampFromMs(at),
    updatedAt: timestampFromMs(at),
  };
  switch (kind) {
    case AlertKind.SSH_SESSION:
      return create(AlertSchema, {
        ...base,
        severity: options.severity ?? Severity.INFO,
        answers: [Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP],
        summary: "New SSH login: alice from 203.0.113.7",
        subject: { case: "sshSession", value: { user: "alice", sourceIp: "203.0.113.7", sourcePort: 51234, authMethod: "publickey", sshdPid: 4242 } },
      });
    case AlertKind.SSH_BRUTE_FORCE:
      return create(AlertSchema, {
        ...base,
        severity: options.severity ?? Severity.WARNING,
        answers: [Answer.BLOCK_IP, Answer.IGNORE],
        summary: "57 failed SSH logins from 198.51.100.9",
        subject: {
          case: "sshFailures",
          value: { sourceIp: "198.51.100.9", count: 57, window: durationFromMs(300_000), usernames: ["root", "admin", "oracle"], firstSeen: timestampFromMs(at - 300_000), lastSeen: timestampFromMs(at) },
        },
      });
    case AlertKind.CPU_SUSTAINED:
      return create(AlertSchema, {
        ...base,
        severity: options.severity ?? Severity.CRITICAL,
        answers: [Answer.IGNORE, Answer.REBOOT, Answer.SHUTDOWN, Answer.KILL_PROCESS],
        summary: "CPU at 93 % for 2 min",
        subject: {
          case: "cpu",
          value: {
            percent: 93.2,
            threshold: 90,
            sustained: durationFromMs(120_000),
            top: [
              { pid: 3131, name: "xmrig", cpuPercent: 180.4, startTicks: 987654n, user: "www-data" },
              { pid: 77, name: "nginx", cpuPercent: 3.1, startTicks: 1200n, user: "www-data" },
            ],
          },
        },
      });
    case AlertKind.HTTP_404_BURST:
      return create(AlertSchema, {
        ...base,
        severity: options.severity ?? Severity.CRITICAL,
        answers: [Answer.IGNORE, Answer.BLOCK_IP],
        summary: "185 HTTP 404s from 198.51.100.23",
        subject: {
          case: "httpErrors",
          value: {
            clientIp: "198.51.100.23",
            status: 404,
            count: 185,
            window: durationFromMs(60_000),
            recentPaths: ["/.env", "/admin.php", "/wp-login.php"],
            firstSeen: timestampFromMs(at - 60_000),
            lastSeen: timestampFromMs(at),
          },
        },
      });
    default:
      return create(AlertSchema, { ...base, severity: options.severity ?? Severity.WARNING, summary: "Something new happened" });
  }
}

/** Every answer, as an agent with all responders lists them in Hello. */
export const ALL_ANSWERS: readonly Answer[] = [
  Answer.ALLOW,
  Answer.IGNORE,
  Answer.CLOSE_SESSION,
  Answer.BLOCK_IP,
  Answer.UNBLOCK_IP,
  Answer.KILL_PROCESS,
  Answer.REBOOT,
  Answer.SHUTDOWN,
];
