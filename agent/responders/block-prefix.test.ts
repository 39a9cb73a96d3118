import { expect } from "chai";
import { blockName, commonPrefixLength, narrowNote, protectedNetworks, widenToPrefix } from "./block-prefix.js";
import type { IpPolicyOptions } from "./ip-policy.js";

const policy = (over: Partial<IpPolicyOptions> = {}): IpPolicyOptions => ({
  allowlist: [],
  allowCidr: false,
  controllerAddresses: ["192.0.2.1"],
  ownAddresses: () => ["2001:db8:aa::1"],
  ...over,
});
const v6 = (ip: string) => ({ text: ip, ip, family: 6 as const });
const v4 = (ip: string) => ({ text: ip, ip, family: 4 as const });
const prefixes = { ipv4Prefix: 32, ipv6Prefix: 64 };

describe("block prefixes", () => {
  it("counts the leading bits two addresses share", () => {
    expect(commonPrefixLength("2001:db8::1", "2001:db8::1", 6)).to.equal(128);
    expect(commonPrefixLength("2001:db8::", "2001:db8:0:0:8000::", 6)).to.equal(64);
    expect(commonPrefixLength("10.0.0.0", "10.0.0.1", 4)).to.equal(31);
    expect(commonPrefixLength("0.0.0.0", "128.0.0.0", 4)).to.equal(0);
  });

  it("widens an IPv6 address to its /64 and leaves IPv4 alone at /32", () => {
    const wide = widenToPrefix(v6("2001:db8:1:2:aaaa::7"), prefixes, protectedNetworks(policy()));
    expect(wide).to.deep.equal({ target: { text: "2001:db8:1:2::/64", ip: "2001:db8:1:2::", family: 6, prefix: 64 } });
    expect(blockName(wide, "2001:db8:1:2:aaaa::7")).to.equal("2001:db8:1:2::/64 (the /64 of 2001:db8:1:2:aaaa::7)");
    expect(widenToPrefix(v4("198.51.100.7"), prefixes, protectedNetworks(policy()))).to.deep.equal({ target: v4("198.51.100.7") });
    expect(widenToPrefix(v4("198.51.100.7"), { ipv4Prefix: 24, ipv6Prefix: 128 }, []).target.text).to.equal("198.51.100.0/24");
    expect(widenToPrefix(v6("2001:db8::7"), { ipv4Prefix: 32, ipv6Prefix: 128 }, []).target.text).to.equal("2001:db8::7");
  });

  it("narrows around this host's address, the controller's, an allowlist entry or an allowed address, and says which", () => {
    const own = widenToPrefix(v6("2001:db8:aa::8000:0:0:7"), prefixes, protectedNetworks(policy()));
    // 2001:db8:aa::1 and 2001:db8:aa:0:8000::7 part at bit 64 → /65 keeps the host's address out
    expect(own.target.text).to.equal("2001:db8:aa:0:8000::/65");
    expect(narrowNote(own)).to.equal("; narrowed from /64 to /65: the /64 holds this host's address 2001:db8:aa::1, never blocked");
    const controller = widenToPrefix(v4("192.0.2.77"), { ipv4Prefix: 24, ipv6Prefix: 64 }, protectedNetworks(policy()));
    expect(controller.target.text).to.equal("192.0.2.64/26");
    expect(controller.narrowed?.because).to.equal("the controller's address 192.0.2.1");
    const listed = widenToPrefix(v6("2001:db8:5::9"), prefixes, protectedNetworks(policy({ allowlist: ["2001:db8:5::8/127"] })));
    expect(listed.target.text).to.equal("2001:db8:5::9");
    expect(listed.narrowed).to.deep.equal({ from: 64, to: 128, because: "allowlist entry 2001:db8:5::8/127" });
    const kept = widenToPrefix(v6("2001:db8:6::9"), prefixes, protectedNetworks(policy(), [{ address: "2001:db8:6::ff", why: "2001:db8:6::ff, allowed until revoked" }]));
    expect(kept.target.text).to.equal("2001:db8:6::/121");
    expect(narrowNote(kept)).to.contain("2001:db8:6::ff, allowed until revoked");
  });

  it("leaves a network the operator named as it is", () => {
    const net = { text: "2001:db8::/48", ip: "2001:db8::", family: 6 as const, prefix: 48 };
    expect(widenToPrefix(net, prefixes, protectedNetworks(policy()))).to.deep.equal({ target: net });
  });
});
