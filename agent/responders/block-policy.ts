import { BlockList, isIP } from "node:net";
import { checkBlockTarget, normalizeIp, parseCidr, type IpCheck, type IpPolicyOptions } from "./ip-policy.js";

/**
 * checkBlockTarget for many inputs at once (re-applying thousands of stored
 * blocks at start): the host's own addresses are read once, and every
 * address or network that may never be blocked goes into one BlockList, so
 * a single address costs one lookup. Any input the fast path cannot settle
 * — a network, an address that hits the list — goes through
 * checkBlockTarget itself, which gives the answer and the reason. The
 * answers are the same as checkBlockTarget's with the same options.
 */
export function compileBlockPolicy(options: IpPolicyOptions): (input: string) => IpCheck {
  const never = new BlockList();
  never.addAddress("0.0.0.0", "ipv4");
  never.addAddress("::", "ipv6");
  never.addSubnet("127.0.0.0", 8, "ipv4");
  never.addAddress("::1", "ipv6");
  const addAddress = (text: string) => {
    const ip = normalizeIp(text);
    if (ip !== undefined) never.addAddress(ip, isIP(ip) === 4 ? "ipv4" : "ipv6");
  };
  const own = options.ownAddresses();
  for (const address of options.controllerAddresses) addAddress(address);
  for (const address of own) addAddress(address);
  for (const entry of options.allowlist) {
    if (!entry.includes("/")) addAddress(entry);
    else {
      const network = parseCidr(entry);
      if (network) never.addSubnet(network.ip, network.prefix, network.family === 4 ? "ipv4" : "ipv6");
    }
  }
  // The slow path sees the same own addresses as the fast one.
  const fixed: IpPolicyOptions = { ...options, ownAddresses: () => own };
  return (input) => {
    if (!input.includes("/")) {
      const ip = normalizeIp(input);
      if (ip !== undefined) {
        const family = isIP(ip) === 4 ? "ipv4" : "ipv6";
        if (!never.check(ip, family)) return { ok: true, target: { text: ip, ip, family: family === "ipv4" ? 4 : 6 } };
      }
    }
    return checkBlockTarget(input, fixed);
  };
}
