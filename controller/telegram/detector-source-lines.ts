import { DetectorSourceState } from "../../gen/secarc/v1/alert_pb.js";
import { answerLabel } from "./alert-message.js";
import type { AgentRecord } from "../store/store.js";
import type { Translations } from "./i18n/translations.js";
import { clip, escapeHtml } from "./text-format.js";

const STATE_KEY = {
  [DetectorSourceState.UNSPECIFIED]: "unknown",
  [DetectorSourceState.FOLLOWING]: "following",
  [DetectorSourceState.WAITING]: "waiting",
  [DetectorSourceState.NO_SOURCE]: "noSource",
  [DetectorSourceState.UNREADABLE]: "unreadable",
} as const satisfies Record<DetectorSourceState, keyof Translations["command"]["sourceState"]>;

/**
 * /status: one indented line per detector of an agent, with its source as
 * the agent last reported it ("ssh-brute-force: no source: no auth log and
 * no sshd in journald"); a blind one is marked. Agent text is clipped and
 * escaped. None for an agent that does not report sources.
 */
export function detectorSourceLines(agent: Pick<AgentRecord, "detectorSources">, t: Translations): string[] {
  return agent.detectorSources.map((source) => {
    const key = STATE_KEY[source.state as DetectorSourceState] ?? "unknown";
    const mark = source.state === DetectorSourceState.FOLLOWING ? "👁" : "🙈";
    return `    ${mark} ${t.command.sourceLine({ detector: escapeHtml(clip(source.detector, 64)), state: t.command.sourceState[key], detail: escapeHtml(clip(source.detail, 200)) })}`;
  });
}

/**
 * /status: the answers an agent does not offer on its host, one line per
 * reason ("not offered: Block IP, Unblock (no CAP_NET_ADMIN: ...)"). The
 * reason is agent text: clipped and escaped.
 */
export function unavailableAnswerLines(agent: Pick<AgentRecord, "unavailableAnswers">, t: Translations): string[] {
  const byReason = new Map<string, string[]>();
  for (const { answer, reason } of agent.unavailableAnswers) byReason.set(reason, [...(byReason.get(reason) ?? []), answerLabel(answer, t)]);
  return [...byReason].map(([reason, answers]) => `    🚫 ${t.command.unavailableLine({ answers: escapeHtml(answers.join(", ")), reason: escapeHtml(clip(reason, 200)) })}`);
}
