import { create } from "@bufbuild/protobuf";
import { ActionTargetSchema, Answer, type ActionTarget } from "../../gen/secarc/v1/action_pb.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";

/** The address an alert is about, if its subject names one. */
export function alertAddress(alert: Alert): string | undefined {
  switch (alert.subject.case) {
    case "sshSession":
      return alert.subject.value.sourceIp || undefined;
    case "sshFailures":
      return alert.subject.value.sourceIp || undefined;
    case "httpErrors":
      return alert.subject.value.clientIp || undefined;
    default:
      return undefined;
  }
}

/**
 * What an answer to an alert applies to, copied from the alert's subject:
 * the address for BLOCK_IP, UNBLOCK_IP and ALLOW; the SSH session for
 * CLOSE_SESSION; the busiest process for KILL_PROCESS. Host-wide answers
 * (IGNORE, REBOOT, SHUTDOWN) have no target. `undefined` is also returned
 * when the subject does not name what the answer needs.
 */
export function deriveActionTarget(alert: Alert, answer: Answer): ActionTarget | undefined {
  switch (answer) {
    case Answer.BLOCK_IP:
    case Answer.UNBLOCK_IP:
    case Answer.ALLOW: {
      const ip = alertAddress(alert);
      return ip ? create(ActionTargetSchema, { target: { case: "ip", value: ip } }) : undefined;
    }
    case Answer.CLOSE_SESSION: {
      if (alert.subject.case !== "sshSession") return undefined;
      const { sshdPid, sourceIp, sourcePort, user } = alert.subject.value;
      return create(ActionTargetSchema, { target: { case: "session", value: { sshdPid, sourceIp, sourcePort, user } } });
    }
    case Answer.KILL_PROCESS: {
      if (alert.subject.case !== "cpu") return undefined;
      const top = alert.subject.value.top[0];
      if (!top) return undefined;
      return create(ActionTargetSchema, { target: { case: "process", value: { pid: top.pid, startTicks: top.startTicks, name: top.name } } });
    }
    default:
      return undefined;
  }
}

/** Whether an answer cannot be carried out without a target. */
export function answerNeedsTarget(answer: Answer): boolean {
  return answer === Answer.BLOCK_IP || answer === Answer.UNBLOCK_IP || answer === Answer.CLOSE_SESSION || answer === Answer.KILL_PROCESS;
}
