import { isIP } from "node:net";

/**
 * Which addresses may be blocked. Input is untrusted (it comes from an
 * alert through the controller): it is parsed as an IP address (or, when
 * allowed, a network in CIDR notation), normalised (IPv4-mapped IPv6 becomes
 * IPv4; IPv6 in its canonical compressed form), and refused when it is
 * loopback, unspecified, the controller's, this host's, or in an
 * allow-listed network. The decision is pure: addresses come in through
 * the options.
 */

export type IpFamily = 4 | 6;

/** A validated block target. */
export interface IpTarget {
  /** Canonical text: "198.51.100.7", "2001:db8::7", or "198.51.100.0/24" for a network. */
  text: string;
  /** The address (the network's first address for a CIDR). */
  ip: string;
  family: IpFamily;
  /** Prefix length for a network; undefined for a single address. */
  prefix?: number;
}

export type IpCheck = { ok: true; target: IpTarget } | { ok: false; reason: string };

export interface IpPolicyOptions {
  /** Allow-listed networks (CIDR) or addresses, never blocked. */
  allowlist: readonly string[];
  /** Whether a network (CIDR) may be blocked. */
  allowCidr: boolean;
  /** The controller's addresses. */
  controllerAddresses: readonly string[];
  /** This host's own addresses (read when checking). */
  ownAddresses: () => readonly string[];
}

/** Canonical form of an IP address, or undefined when `text` is not one. IPv4-mapped IPv6 → IPv4. */
export function normalizeIp(text: string): string | undefined {
  const value = text.trim();
  if (value.includes("%")) return undefined;
  const family = isIP(value);
  if (family === 4) return value.split(".").map((part) => String(Number(part))).join(".");
  if (family !== 6) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const hi = parseInt(mapped[1] ?? "0", 16);
    const lo = parseInt(mapped[2] ?? "0", 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return canonical;
}

/** Parses "a.b.c.d/n" or "x::/n" into its canonical network, or undefined. */
export function parseCidr(text: string): { ip: string; family: IpFamily; prefix: number } | undefined {
  const match = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const ip = normalizeIp(match[1] ?? "");
  if (ip === undefined) return undefined;
  const family = isIP(ip) as IpFamily;
  let prefix = Number(match[2]);
  // An IPv4-mapped network ("::ffff:10.0.0.0/104") becomes its IPv4 network.
  if (family === 4 && isIP(match[1] ?? "") === 6) prefix -= 96;
  if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { ip: networkAddress(ip, family, prefix), family, prefix };
}

export function networkAddress(ip: string, family: IpFamily, prefix: number): string {
  const bytes = ipBytes(ip, family);
  for (let i = 0; i < bytes.length; i += 1) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  if (family === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return normalizeIp(groups.join(":")) ?? groups.join(":");
}

export function ipBytes(ip: string, family: IpFamily): number[] {
  if (family === 4) return ip.split(".").map(Number);
  const [head = "", tail] = ip.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 255];
  });
}

/** Whether the network ip/prefix contains `address` (both canonical, as normalizeIp gives them). */
export function contains(network: { ip: string; family: IpFamily; prefix: number }, address: string): boolean {
  if (isIP(address) !== network.family) return false;
  const a = ipBytes(address, network.family);
  const n = ipBytes(network.ip, network.family);
  for (let i = 0, bits = network.prefix; bits > 0; i += 1, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((a[i] ?? 0) & mask) !== ((n[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** Whether two networks share an address (one contains the other's first address). */
export function overlaps(a: { ip: string; family: IpFamily; prefix: number }, b: { ip: string; family: IpFamily; prefix: number }): boolean {
  return a.family === b.family && (contains(a, b.ip) || contains(b, a.ip));
}

/** Validates a block target against the policy. */
export function checkBlockTarget(input: string, options: IpPolicyOptions): IpCheck {
  return compileBlockPolicy(options)(input);
}

/**
 * checkBlockTarget for many inputs (a batch of blocks, the re-apply of
 * thousands of stored ones at start): the policy's addresses and networks
 * are parsed once, and the host's own addresses read once.
 */
export function compileBlockPolicy(options: IpPolicyOptions): (input: string) => IpCheck {
  const defined = <T>(value: T | undefined): value is T => value !== undefined;
  const controllers = options.controllerAddresses.map(normalizeIp).filter(defined);
  const own = options.ownAddresses().map(normalizeIp).filter(defined);
  const allowed = options.allowlist.flatMap((entry) => {
    const network = entry.includes("/") ? parseCidr(entry) : toHostNetwork(entry);
    return network === undefined ? [] : [{ entry, network }];
  });
  return (input) => {
    const raw = input.trim();
    let network: { ip: string; family: IpFamily; prefix: number };
    let target: IpTarget;
    if (raw.includes("/")) {
      const parsed = parseCidr(raw);
      if (parsed === undefined) return { ok: false, reason: `refused: ${shown(input)} is not an IP address or network` };
      const full = parsed.family === 4 ? 32 : 128;
      if (parsed.prefix === full) {
        target = { text: parsed.ip, ip: parsed.ip, family: parsed.family };
      } else {
        const text = `${parsed.ip}/${parsed.prefix}`;
        if (!options.allowCidr) {
          return { ok: false, reason: `refused: ${text} is a network; blocking networks is disabled (firewall.allowCidr)` };
        }
        target = { text, ip: parsed.ip, family: parsed.family, prefix: parsed.prefix };
      }
      network = { ip: target.ip, family: target.family, prefix: target.prefix ?? full };
    } else {
      const ip = normalizeIp(raw);
      if (ip === undefined) return { ok: false, reason: `refused: ${shown(input)} is not an IP address` };
      const family = isIP(ip) as IpFamily;
      target = { text: ip, ip, family };
      network = { ip, family, prefix: family === 4 ? 32 : 128 };
    }
    const what = target.text;
    const isNetwork = target.prefix !== undefined;
    if (target.ip === "0.0.0.0" || target.ip === "::") {
      return { ok: false, reason: `refused: ${what} ${isNetwork ? "contains" : "is"} the unspecified address` };
    }
    if (overlaps(network, { ip: "127.0.0.0", family: 4, prefix: 8 }) || contains(network, "::1")) {
      return { ok: false, reason: `refused: ${what} ${isNetwork ? "contains" : "is"} a loopback address` };
    }
    const controller = controllers.find((address) => contains(network, address));
    if (controller !== undefined) return { ok: false, reason: `refused: ${what} ${isNetwork ? "contains" : "is"} the controller's address ${controller}` };
    const mine = own.find((address) => contains(network, address));
    if (mine !== undefined) return { ok: false, reason: `refused: ${what} ${isNetwork ? "contains" : "is"} this host's address ${mine}` };
    const allow = allowed.find((a) => overlaps(network, a.network));
    if (allow !== undefined) return { ok: false, reason: `refused: ${what} is in allowlist ${allow.entry}` };
    return { ok: true, target };
  };
}

/** An input as shown in a refusal: quoted, cut at 64 characters. */
function shown(input: string): string {
  return JSON.stringify(input.length > 64 ? `${input.slice(0, 64)}…` : input);
}

function toHostNetwork(text: string): { ip: string; family: IpFamily; prefix: number } | undefined {
  const ip = normalizeIp(text);
  if (ip === undefined) return undefined;
  const family = isIP(ip) as IpFamily;
  return { ip, family, prefix: family === 4 ? 32 : 128 };
}

/** Whether `text` is a valid allow-list entry (address or CIDR). */
export function isValidAllowlistEntry(text: string): boolean {
  return text.includes("/") ? parseCidr(text) !== undefined : normalizeIp(text) !== undefined;
}

/** Validates a plain address (no networks, no policy), e.g. an SSH session's source. */
export function parseIp(text: string): { ip: string; family: IpFamily } | undefined {
  const ip = normalizeIp(text);
  return ip === undefined ? undefined : { ip, family: isIP(ip) as IpFamily };
}
