import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, ActionTargetSchema, Answer, type ActionOptions, type ActionTarget } from "../../gen/secarc/v1/action_pb.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";

/** The address an alert is about, if any. */
export function alertIp(alert: Alert): string | undefined {
  switch (alert.subject.case) {
    case "sshSession":
      return alert.subject.value.sourceIp;
    case "sshFailures":
      return alert.subject.value.sourceIp;
    case "httpErrors":
      return alert.subject.value.clientIp;
    default:
      return undefined;
  }
}

/** What an answer applies to, copied from the alert's subject; undefined for host-wide answers. */
export function targetFor(alert: Alert, answer: Answer): ActionTarget | undefined {
  switch (answer) {
    case Answer.BLOCK_IP:
    case Answer.ALLOW: {
      const ip = alertIp(alert);
      return ip ? create(ActionTargetSchema, { target: { case: "ip", value: ip } }) : undefined;
    }
    case Answer.CLOSE_SESSION: {
      if (alert.subject.case !== "sshSession") return undefined;
      const s = alert.subject.value;
      return create(ActionTargetSchema, { target: { case: "session", value: { sshdPid: s.sshdPid, sourceIp: s.sourceIp, sourcePort: s.sourcePort, user: s.user } } });
    }
    case Answer.KILL_PROCESS: {
      const top = alert.subject.case === "cpu" ? alert.subject.value.top[0] : undefined;
      return top ? create(ActionTargetSchema, { target: { case: "process", value: { pid: top.pid, startTicks: top.startTicks, name: top.name } } }) : undefined;
    }
    default:
      return undefined;
  }
}

/** Options of an answer: block duration, power delay. */
export function optionsFor(answer: Answer, settings: { blockDurationMs: number; powerDelayMs: number }): ActionOptions | undefined {
  switch (answer) {
    case Answer.BLOCK_IP:
      return create(ActionOptionsSchema, { duration: durationFromMs(settings.blockDurationMs) });
    case Answer.REBOOT:
    case Answer.SHUTDOWN:
      return create(ActionOptionsSchema, { delay: durationFromMs(settings.powerDelayMs) });
    default:
      return undefined;
  }
}
