import { describeHostFacts, type HostFactsRecord } from "../host/host-facts.js";
import type { Translations } from "./i18n/translations.js";
import { clip, escapeHtml } from "./text-format.js";

/**
 * /status: the host an agent runs on, as its last Hello described it, in one
 * indented line ("🖥 Debian GNU/Linux 12 (bookworm) · kernel 6.1.0 x64 ·
 * AMD EPYC ×2 · 23.5 GiB · up 3 d 4 h"). Agent text: clipped and escaped.
 * None for an agent that does not report host facts.
 */
export function hostFactsLines(agent: { hostFacts?: HostFactsRecord | undefined }, now: number, t: Translations): string[] {
  if (!agent.hostFacts) return [];
  const text = describeHostFacts(agent.hostFacts, now, t.command.hostWords);
  return text ? [`    🖥 ${escapeHtml(clip(text, 400))}`] : [];
}
