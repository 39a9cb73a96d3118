import { BlockList } from "node:net";
import { isAllow, type Mute, type MuteStore } from "./mute-store.js";
import { normalizeIp, parseCidr } from "./ip-policy.js";

/**
 * The allow-list entries made by ALLOW, read from the mute store: which
 * address a BLOCK_IP must leave alone, and how to say why. An entry lasts
 * until its end (`until`) or until REVOKE_ALLOW removes it.
 */

/** The allow-list entry in force at `now` that covers `input` (an address, or a network containing an allowed address). */
export function allowCovering(mutes: MuteStore, input: string, now: number): Mute | undefined {
  const text = input.trim();
  if (!text.includes("/")) {
    const ip = normalizeIp(text);
    if (ip === undefined) return undefined;
    const found = mutes.find("ip", ip, now);
    return found !== undefined && isAllow(found) ? found : undefined;
  }
  const net = parseCidr(text);
  if (net === undefined) return undefined;
  const list = new BlockList();
  list.addSubnet(net.ip, net.prefix, net.family === 4 ? "ipv4" : "ipv6");
  return mutes.active(now).find((m) => isAllow(m) && list.check(m.key, m.key.includes(":") ? "ipv6" : "ipv4"));
}

/** "2026-11-29 15:02 UTC": the end of an allow, as the result texts show it. */
export function formatUntil(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "until 2026-11-29 15:02 UTC by @op", or "until revoked by @op". */
function untilBy(allow: Mute): string {
  const until = allow.until === null ? "until revoked" : `until ${formatUntil(allow.until)}`;
  return `${until}${allow.by ? ` by ${allow.by}` : ""}`;
}

/** "198.51.100.23 is allowed until 2026-11-29 15:02 UTC by @op". */
export function describeAllow(allow: Mute): string {
  return `${allow.key} is allowed ${untilBy(allow)}`;
}

/** The addresses ALLOW keeps unblocked now, for a block that covers a network: "203.0.113.9, allowed until … by @op". */
export function keptByAllows(mutes: MuteStore, now: number): Array<{ address: string; why: string }> {
  return mutes.active(now).filter(isAllow).map((m) => ({ address: m.key, why: `${m.key}, allowed ${untilBy(m)}` }));
}

/** The refusal of BLOCK_IP on an allowed address: what holds, and what to do first. */
export function blockRefusal(input: string, allow: Mute): string {
  const text = input.trim();
  const what = text.includes("/") ? `${text} contains ${allow.key}, which` : allow.key;
  return `refused: ${what} is allowed ${untilBy(allow)}; revoke the allow first (/allows)`;
}
