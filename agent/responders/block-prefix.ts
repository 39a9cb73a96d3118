import { contains, ipBytes, networkAddress, normalizeIp, overlaps, parseCidr, type IpFamily, type IpPolicyOptions, type IpTarget } from "./ip-policy.js";

/**
 * Prefix blocks: an attacker on IPv6 holds a whole /64 (sshguard's
 * IPV6_SUBNET, fail2ban #1123), so a BLOCK_IP of one address covers the
 * network of the configured length around it (`block.ipv6Prefix`, default
 * 64; `block.ipv4Prefix`, default 32: the address alone).
 *
 * Never-block rules hold for the whole prefix. A prefix that contains a
 * protected address or network (the controller's, this host's, loopback, an
 * allowlist entry, an address allowed by ALLOW) is NARROWED, not refused:
 * the block becomes the largest network around the attacker's address that
 * leaves every protected one out (one bit past the longest prefix they
 * share), and the result says so and why. An attacker's address that is
 * itself protected is refused by the address policy before this step.
 * Pure: the protected networks come in as arguments.
 */

export interface BlockPrefixes {
  /** Prefix length a BLOCK_IP of an IPv4 address covers (32: the address alone). */
  ipv4Prefix: number;
  /** Prefix length a BLOCK_IP of an IPv6 address covers (128: the address alone). */
  ipv6Prefix: number;
}

export interface Network {
  ip: string;
  family: IpFamily;
  prefix: number;
}

/** A network a block must leave out, and how a result names it. */
export interface ProtectedNetwork {
  network: Network;
  /** "this host's address 2001:db8::1", "allowlist entry 10.0.0.0/8". */
  why: string;
}

/** An address an ALLOW keeps unblocked, with the words for it. */
export interface KeptAddress {
  address: string;
  why: string;
}

export interface WidenedTarget {
  target: IpTarget;
  /** Set when a protected network made the prefix longer than configured. */
  narrowed?: { from: number; to: number; because: string };
}

const full = (family: IpFamily): number => (family === 4 ? 32 : 128);

function hostNetwork(text: string): Network | undefined {
  if (text.includes("/")) return parseCidr(text);
  const ip = normalizeIp(text);
  if (ip === undefined) return undefined;
  const family: IpFamily = ip.includes(":") ? 6 : 4;
  return { ip, family, prefix: full(family) };
}

/** The never-block networks of the policy plus the addresses ALLOW keeps, each with its words. */
export function protectedNetworks(options: IpPolicyOptions, kept: readonly KeptAddress[] = []): ProtectedNetwork[] {
  const out: ProtectedNetwork[] = [
    { network: { ip: "127.0.0.0", family: 4, prefix: 8 }, why: "the loopback network 127.0.0.0/8" },
    { network: { ip: "::1", family: 6, prefix: 128 }, why: "the loopback address ::1" },
  ];
  const add = (text: string, why: (shown: string) => string): void => {
    const network = hostNetwork(text);
    if (network !== undefined) out.push({ network, why: why(text.trim()) });
  };
  for (const address of options.controllerAddresses) add(address, (a) => `the controller's address ${a}`);
  for (const address of options.ownAddresses()) add(address.replace(/%.*$/, ""), (a) => `this host's address ${a}`);
  for (const entry of options.allowlist) add(entry, (e) => `allowlist entry ${e}`);
  for (const keep of kept) add(keep.address, () => keep.why);
  return out;
}

/** How many leading bits two addresses of one family share. */
export function commonPrefixLength(a: string, b: string, family: IpFamily): number {
  const x = ipBytes(a, family);
  const y = ipBytes(b, family);
  let bits = 0;
  for (let i = 0; i < x.length; i += 1) {
    const diff = (x[i] ?? 0) ^ (y[i] ?? 0);
    if (diff === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(diff) - 24;
  }
  return bits;
}

/**
 * The network a block of `target` covers: a single address widened to the
 * configured prefix, narrowed around protected networks; a network (an
 * operator's CIDR, allowed by firewall.allowCidr) is left as it is — the
 * address policy already checked it whole.
 */
export function widenToPrefix(target: IpTarget, prefixes: BlockPrefixes, protectedList: readonly ProtectedNetwork[]): WidenedTarget {
  if (target.prefix !== undefined) return { target };
  const max = full(target.family);
  const configured = target.family === 4 ? prefixes.ipv4Prefix : prefixes.ipv6Prefix;
  if (configured >= max) return { target };
  const wide: Network = { ip: networkAddress(target.ip, target.family, configured), family: target.family, prefix: configured };
  let prefix = configured;
  let because: ProtectedNetwork | undefined;
  for (const item of protectedList) {
    if (!overlaps(wide, item.network)) continue;
    const needed = Math.min(max, commonPrefixLength(target.ip, item.network.ip, target.family) + 1);
    if (needed > prefix) {
      prefix = needed;
      because = item;
    }
  }
  const narrowed = because ? { from: configured, to: prefix, because: because.why } : undefined;
  if (prefix >= max) return { target, ...(narrowed ? { narrowed } : {}) };
  const ip = networkAddress(target.ip, target.family, prefix);
  return { target: { text: `${ip}/${prefix}`, ip, family: target.family, prefix }, ...(narrowed ? { narrowed } : {}) };
}

/** Whether the stored block `text` (an address or a network) holds `address`. */
export function blockHolds(text: string, address: string): boolean {
  const network = hostNetwork(text);
  const ip = normalizeIp(address);
  return network !== undefined && ip !== undefined && contains(network, ip);
}

/** "2001:db8:1:2::/64 (the /64 of 2001:db8:1:2::7)", "198.51.100.7": the block as results name it. */
export function blockName(widened: WidenedTarget, input: string): string {
  const { target } = widened;
  return target.prefix !== undefined && !input.includes("/") ? `${target.text} (the /${target.prefix} of ${normalizeIp(input) ?? input.trim()})` : target.text;
}

/** "; narrowed from /64 to /65: the /64 holds this host's address 2001:db8::1, never blocked", or "". */
export function narrowNote(widened: WidenedTarget): string {
  const n = widened.narrowed;
  return n ? `; narrowed from /${n.from} to /${n.to}: the /${n.from} holds ${n.because}, never blocked` : "";
}
