import { expect } from "chai";
import { nftRestoreScript, nftSetupScript } from "./nftables.js";

const v4 = (ip: string) => ({ text: ip, ip, family: 4 as const });
const v6 = (ip: string) => ({ text: ip, ip, family: 6 as const });

describe("nftables re-apply script", () => {
  it("is the setup, then each set emptied and refilled by one add element with every timeout", () => {
    const script = nftRestoreScript(
      [
        { target: v4("198.51.100.7"), timeoutMs: 3_600_000 },
        { target: v6("2001:db8::7"), timeoutMs: 0 },
        { target: v4("198.51.100.8"), timeoutMs: 1_500.4 },
      ],
      false,
    );
    expect(script).to.equal(
      `${nftSetupScript(false)}` +
        "flush set inet secarc blocked4\n" +
        "add element inet secarc blocked4 { 198.51.100.7 timeout 3600000ms, 198.51.100.8 timeout 1501ms }\n" +
        "flush set inet secarc blocked6\n" +
        "add element inet secarc blocked6 { 2001:db8::7 }\n",
    );
  });

  it("with networks allowed, empties the interval sets too; nothing stored empties every set", () => {
    const script = nftRestoreScript([{ target: { text: "198.51.100.0/24", ip: "198.51.100.0", family: 4, prefix: 24 }, timeoutMs: 60_000 }], true);
    expect(script.split("\n").filter((l) => l.startsWith("flush set"))).to.deep.equal([
      "flush set inet secarc blocked4",
      "flush set inet secarc blocked6",
      "flush set inet secarc blocknet4",
      "flush set inet secarc blocknet6",
    ]);
    expect(script).to.contain("add element inet secarc blocknet4 { 198.51.100.0/24 timeout 60000ms }\n");
    expect(nftRestoreScript([], false)).to.not.contain("add element");
  });
});
