import { expect } from "chai";
import { checkBlockTarget, normalizeIp, parseCidr, type IpPolicyOptions } from "./ip-policy.js";

const policy = (over: Partial<IpPolicyOptions> = {}): IpPolicyOptions => ({
  allowlist: ["10.0.0.0/8", "2001:db8:aa::/48", "203.0.113.7"],
  allowCidr: false,
  controllerAddresses: ["198.51.100.1", "2001:db8:c::1"],
  ownAddresses: () => ["192.0.2.10", "fe80::1"],
  ...over,
});

describe("ip policy", () => {
  it("normalises addresses: IPv4-mapped IPv6 to IPv4, IPv6 compressed and lower case", () => {
    expect(normalizeIp("::ffff:198.51.100.7")).to.equal("198.51.100.7");
    expect(normalizeIp("::FFFF:c633:6407")).to.equal("198.51.100.7");
    expect(normalizeIp("2001:DB8:0:0:0:0:0:7")).to.equal("2001:db8::7");
    expect(normalizeIp(" 198.51.100.7 ")).to.equal("198.51.100.7");
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4; reboot", "--flush", "fe80::1%eth0", "a.b.c.d", "1.2.3.4/32x"]) {
      expect(normalizeIp(bad), bad).to.equal(undefined);
    }
  });

  it("parses networks to their first address", () => {
    expect(parseCidr("10.1.2.3/8")).to.deep.equal({ ip: "10.0.0.0", family: 4, prefix: 8 });
    expect(parseCidr("2001:db8:aa:bb::1/48")).to.deep.equal({ ip: "2001:db8:aa::", family: 6, prefix: 48 });
    expect(parseCidr("::ffff:10.0.0.0/104")).to.deep.equal({ ip: "10.0.0.0", family: 4, prefix: 8 });
    expect(parseCidr("10.0.0.0/33")).to.equal(undefined);
    expect(parseCidr("10.0.0.0/")).to.equal(undefined);
  });

  it("accepts an ordinary address", () => {
    expect(checkBlockTarget("198.51.100.23", policy())).to.deep.equal({ ok: true, target: { text: "198.51.100.23", ip: "198.51.100.23", family: 4 } });
    expect(checkBlockTarget("2001:DB8:1::23", policy())).to.deep.equal({ ok: true, target: { text: "2001:db8:1::23", ip: "2001:db8:1::23", family: 6 } });
    expect(checkBlockTarget("198.51.100.23/32", policy())).to.deep.equal({ ok: true, target: { text: "198.51.100.23", ip: "198.51.100.23", family: 4 } });
  });

  it("refuses with a reason naming the rule", () => {
    const reason = (input: string, over: Partial<IpPolicyOptions> = {}) => {
      const r = checkBlockTarget(input, policy(over));
      return r.ok ? "accepted" : r.reason;
    };
    expect(reason("10.0.0.5")).to.equal("refused: 10.0.0.5 is in allowlist 10.0.0.0/8");
    expect(reason("203.0.113.7")).to.equal("refused: 203.0.113.7 is in allowlist 203.0.113.7");
    expect(reason("2001:db8:aa:1::9")).to.equal("refused: 2001:db8:aa:1::9 is in allowlist 2001:db8:aa::/48");
    expect(reason("198.51.100.1")).to.equal("refused: 198.51.100.1 is the controller's address 198.51.100.1");
    expect(reason("::ffff:198.51.100.1")).to.equal("refused: 198.51.100.1 is the controller's address 198.51.100.1");
    expect(reason("192.0.2.10")).to.equal("refused: 192.0.2.10 is this host's address 192.0.2.10");
    expect(reason("127.0.0.53")).to.equal("refused: 127.0.0.53 is a loopback address");
    expect(reason("::1")).to.equal("refused: ::1 is a loopback address");
    expect(reason("0.0.0.0")).to.equal("refused: 0.0.0.0 is the unspecified address");
    expect(reason("0.0.0.0/0")).to.equal("refused: 0.0.0.0/0 is a network; blocking networks is disabled (firewall.allowCidr)");
    expect(reason("1.2.3.4; reboot")).to.equal('refused: "1.2.3.4; reboot" is not an IP address');
    expect(reason("x".repeat(100))).to.equal(`refused: "${"x".repeat(64)}…" is not an IP address`);
  });

  it("with networks allowed, refuses networks that contain protected addresses", () => {
    const cidr = { allowCidr: true };
    const reason = (input: string) => {
      const r = checkBlockTarget(input, policy(cidr));
      return r.ok ? `accepted ${r.target.text}` : r.reason;
    };
    expect(reason("0.0.0.0/0")).to.equal("refused: 0.0.0.0/0 contains the unspecified address");
    expect(reason("127.0.0.0/16")).to.equal("refused: 127.0.0.0/16 contains a loopback address");
    expect(reason("198.51.100.0/24")).to.equal("refused: 198.51.100.0/24 contains the controller's address 198.51.100.1");
    expect(reason("10.20.0.0/16")).to.equal("refused: 10.20.0.0/16 is in allowlist 10.0.0.0/8");
    // A network containing an allow-listed one overlaps it too.
    expect(reason("203.0.113.0/24")).to.equal("refused: 203.0.113.0/24 is in allowlist 203.0.113.7");
    expect(reason("100.64.1.9/24")).to.equal("accepted 100.64.1.0/24");
  });
});
