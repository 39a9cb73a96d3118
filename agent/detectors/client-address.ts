import { BlockList, isIP } from "node:net";

/**
 * The client of a web request, from the peer address and X-Forwarded-For.
 * X-Forwarded-For is attacker-chosen text: it counts only when the peer is
 * one of `trustedProxies`, and then the client is the right-most address in
 * it that is not a trusted proxy (each proxy appends the address it saw, so
 * everything left of the last untrusted hop is the client's own claim).
 * Returns undefined when there is no usable client: a peer or a needed
 * X-Forwarded-For entry that is not an IP address, or a trusted proxy
 * whose header names no untrusted address (a proxy is never a block target).
 */
export type ClientResolver = (peer: string, forwardedFor: string) => string | undefined;

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address; throws a message for anything else. */
export function addTrusted(list: BlockList, cidr: string): void {
  const [address, bits, extra] = cidr.split("/");
  const family = isIP(address ?? "");
  if (family === 0 || extra !== undefined) throw new Error(`"${cidr}" is not an address or CIDR`);
  const type = family === 4 ? "ipv4" : "ipv6";
  if (bits === undefined) {
    list.addAddress(address!, type);
    return;
  }
  const prefix = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${cidr}" has a bad prefix length`);
  list.addSubnet(address!, prefix, type);
}

/** Whether every entry is an address or CIDR; the first problem otherwise. */
export function trustedProxiesProblem(cidrs: readonly string[]): string | undefined {
  const list = new BlockList();
  for (const cidr of cidrs) {
    try {
      addTrusted(list, cidr);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

export function createClientResolver(trustedProxies: readonly string[]): ClientResolver {
  if (trustedProxies.length === 0) return (peer) => (isIP(peer) === 0 ? undefined : peer);
  const list = new BlockList();
  for (const cidr of trustedProxies) addTrusted(list, cidr);
  const trusted = (address: string, family: number) => list.check(address, family === 4 ? "ipv4" : "ipv6");
  return (peer, forwardedFor) => {
    const family = isIP(peer);
    if (family === 0) return undefined;
    if (!trusted(peer, family)) return peer;
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      const hopFamily = isIP(hop);
      if (hopFamily === 0) return undefined;
      if (!trusted(hop, hopFamily)) return hop;
    }
    return undefined;
  };
}
