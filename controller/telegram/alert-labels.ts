import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { Severity, type AlertKind, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { kindEntry } from "../domain/alert-kinds.js";
import { answerEntry } from "../domain/answers.js";
import type { Translations } from "./i18n/translations.js";
import { clip } from "./text-format.js";

const SEVERITY_MARKER: Record<Severity, string> = {
  [Severity.UNSPECIFIED]: "❔",
  [Severity.INFO]: "🔵",
  [Severity.WARNING]: "🟠",
  [Severity.CRITICAL]: "🔴",
};

/** A severity in words; one outside the proto's (0, 9, ...) is said to be unknown, never shown as INFO. */
export function severityLabel(severity: Severity, t: Translations): string {
  switch (severity) {
    case Severity.CRITICAL:
      return t.severity.critical;
    case Severity.WARNING:
      return t.severity.warning;
    case Severity.INFO:
      return t.severity.info;
    default:
      return `${t.severity.unknown} (${Number(severity)})`;
  }
}

export function severityMarker(severity: Severity): string {
  return SEVERITY_MARKER[severity] ?? SEVERITY_MARKER[Severity.UNSPECIFIED];
}

/** The short name of a kind ("HTTP 404 burst"), plain text: its catalog entry's text key. */
export function kindName(kind: AlertKind, t: Translations): string {
  const entry = kindEntry(kind);
  return entry ? t.kindName[entry.textKey] : t.kindName.unknown;
}

/** A button's label for an answer (plain text): its catalog entry's label key; Kill names its process. */
export function answerLabel(answer: Answer, t: Translations, alert?: Alert): string {
  if (answer === Answer.KILL_PROCESS) {
    // Never "Kill ?": the process by name, else by pid, else in general.
    const top = alert?.subject.case === "cpu" ? alert.subject.value.top[0] : undefined;
    const name = top ? clip(top.name, 24).trim() || `pid ${top.pid}` : undefined;
    if (name) return t.answer.killProcess({ name });
  }
  const entry = answerEntry(answer);
  return entry ? t.answer[entry.labelKey] : "?";
}
