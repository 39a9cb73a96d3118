import { isIP } from "node:net";
import { networkInterfaces } from "node:os";

/** Why the controller will not ask an agent to block an address. */
export type BlockRefusal = "not_an_address" | "unspecified" | "loopback" | "link_local" | "multicast" | "broadcast" | "agent_own" | "controller";

/** What a block target is checked against: the agent's own addresses (Hello.addresses) and the controller's. */
export interface TargetContext {
  agentAddresses: readonly string[];
  controllerAddresses: readonly string[];
}

/**
 * The controller checks block targets too, not only the agent: a target must
 * be one IP address (no prefix, no name, no HTML) that is not unspecified,
 * loopback, link-local, multicast or broadcast, not one of the agent's own
 * addresses and not one of the controller's (cutting either off would cut
 * the agent off from its controller). Returns the address in its normal form.
 */
export function checkBlockTarget(value: string, context: TargetContext): { ok: true; ip: string } | { ok: false; reason: BlockRefusal } {
  const ip = normalizeIp(value);
  if (!ip) return { ok: false, reason: "not_an_address" };
  const scope = addressScope(ip);
  if (scope) return { ok: false, reason: scope };
  const same = (list: readonly string[]) => list.some((entry) => normalizeIp(entry.split("/")[0]!.split("%")[0]!) === ip);
  if (same(context.agentAddresses)) return { ok: false, reason: "agent_own" };
  if (same(context.controllerAddresses)) return { ok: false, reason: "controller" };
  return { ok: true, ip };
}

/** One IPv4 or IPv6 address in normal form (IPv4-mapped IPv6 as IPv4, lower case, zeros compressed); undefined otherwise. */
export function normalizeIp(value: string): string | undefined {
  const text = value.trim();
  if (text !== value || text.length === 0 || text.length > 45) return undefined;
  const version = isIP(text);
  if (version === 4) return text.split(".").map(Number).join(".");
  if (version !== 6) return undefined;
  const url = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(url);
  if (mapped) {
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return url;
}

function addressScope(ip: string): BlockRefusal | undefined {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    if (a === 0) return "unspecified";
    if (a === 127) return "loopback";
    if (a === 169 && b === 254) return "link_local";
    if (a >= 224 && a <= 239) return "multicast";
    if (ip === "255.255.255.255") return "broadcast";
    return undefined;
  }
  if (ip === "::") return "unspecified";
  if (ip === "::1") return "loopback";
  if (/^fe[89ab][0-9a-f]:/.test(ip)) return "link_local";
  if (ip.startsWith("ff")) return "multicast";
  return undefined;
}

/** This host's interface addresses (the controller's listen and peer addresses are among them). */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .map((info) => info?.address)
    .filter((address): address is string => typeof address === "string");
}
