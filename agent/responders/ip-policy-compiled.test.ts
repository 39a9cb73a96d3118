import { expect } from "chai";
import { checkBlockTarget, compileBlockPolicy, type IpPolicyOptions } from "./ip-policy.js";

const options = (allowCidr: boolean): IpPolicyOptions => ({
  allowlist: ["10.0.0.0/8", "192.0.2.77", "2001:db8:aa::/48", "::ffff:203.0.113.0/120"],
  allowCidr,
  controllerAddresses: ["198.51.100.200", "2001:db8::200"],
  ownAddresses: () => ["127.0.0.1", "::1", "198.51.100.10", "2001:db8::10", "fe80::1%eth0"],
});

const INPUTS = [
  "198.51.100.7",
  " 198.51.100.7 ",
  "198.051.100.7",
  "2001:db8::7",
  "2001:DB8:0:0::7",
  "::ffff:198.51.100.7",
  "0.0.0.0",
  "::",
  "127.0.0.1",
  "127.8.9.10",
  "::1",
  "198.51.100.200",
  "2001:db8::200",
  "198.51.100.10",
  "2001:db8::10",
  "fe80::1",
  "10.1.2.3",
  "192.0.2.77",
  "192.0.2.78",
  "2001:db8:aa:1::5",
  "203.0.113.9",
  "::ffff:203.0.113.9",
  "203.0.114.9",
  "198.51.100.0/24",
  "198.51.101.0/24",
  "11.0.0.0/8",
  "10.5.0.0/16",
  "198.51.100.7/32",
  "2001:db8:bb::/48",
  "not an ip",
  "",
  "198.51.100.7%eth0",
  "1.2.3.4/33",
];

describe("compiled block policy (batches, re-apply of many stored blocks)", () => {
  for (const allowCidr of [false, true]) {
    it(`one compiled check gives, input after input, the answer and reason of a fresh checkBlockTarget (allowCidr ${allowCidr})`, () => {
      const check = compileBlockPolicy(options(allowCidr));
      for (const input of INPUTS) expect(check(input), JSON.stringify(input)).to.deep.equal(checkBlockTarget(input, options(allowCidr)));
    });
  }

  it("reads the host's own addresses once, however many inputs", () => {
    let reads = 0;
    const check = compileBlockPolicy({ ...options(false), ownAddresses: () => (reads += 1, ["198.51.100.10"]) });
    for (let i = 1; i < 200; i += 1) check(`198.18.0.${i}`);
    expect(check("198.51.100.10")).to.deep.equal({ ok: false, reason: "refused: 198.51.100.10 is this host's address 198.51.100.10" });
    expect(reads).to.equal(1);
  });
});
