import { expect } from "chai";
import { createRecordingRunner } from "./program-runner.js";
import { createNftablesBackend, nftBlockScript, nftSetupScript, nftUnblockScript, parseNftSetJson } from "./nftables.js";

const v4 = (ip: string) => ({ text: ip, ip, family: 4 as const });
const v6 = (ip: string) => ({ text: ip, ip, family: 6 as const });

describe("nftables backend", () => {
  it("sets up one table, two timeout sets and two drop rules in each chain (prerouting before DNAT, input), rewritten in one transaction", () => {
    const script = nftSetupScript(false);
    expect(script).to.contain("set blocked4 { type ipv4_addr; flags timeout; }");
    expect(script).to.contain("set blocked6 { type ipv6_addr; flags timeout; }");
    expect(script).to.contain("chain input { type filter hook input priority -10; policy accept; }");
    expect(script).to.contain("flush chain inet secarc input");
    expect(script).to.contain("chain prerouting { type filter hook prerouting priority -110; policy accept; }");
    expect(script).to.contain("flush chain inet secarc prerouting");
    // two rules (v4, v6) in each of the two chains
    expect(script.match(/drop/g)).to.have.length(4);
    expect(script).to.not.contain("blocknet");
    expect(nftSetupScript(true).match(/drop/g)).to.have.length(8);
    expect(nftSetupScript(true)).to.contain("set blocknet4 { type ipv4_addr; flags interval, timeout; }");
    const v6Only = nftSetupScript({ 4: false, 6: true });
    expect(v6Only).to.contain("set blocknet6 { type ipv6_addr; flags interval, timeout; }");
    expect(v6Only).to.not.contain("blocknet4");
    expect(v6Only.match(/ip6 saddr @blocknet6 drop/g)).to.have.length(2);
  });

  it("blocks with add, delete, add so that a second block refreshes the timeout", () => {
    const script = nftBlockScript([
      { target: v4("198.51.100.7"), timeoutMs: 3000 },
      { target: v6("2001:db8::7"), timeoutMs: 0 },
      { target: v4("198.51.100.8"), timeoutMs: 86_400_000 },
    ]);
    expect(script.trimEnd().split("\n")).to.deep.equal([
      "add element inet secarc blocked4 { 198.51.100.7, 198.51.100.8 }",
      "delete element inet secarc blocked4 { 198.51.100.7, 198.51.100.8 }",
      "add element inet secarc blocked4 { 198.51.100.7 timeout 3000ms, 198.51.100.8 timeout 86400000ms }",
      "add element inet secarc blocked6 { 2001:db8::7 }",
      "delete element inet secarc blocked6 { 2001:db8::7 }",
      "add element inet secarc blocked6 { 2001:db8::7 }",
    ]);
    expect(nftBlockScript([{ target: { text: "100.64.0.0/10", ip: "100.64.0.0", family: 4, prefix: 10 }, timeoutMs: 1000 }])).to.contain(
      "add element inet secarc blocknet4 { 100.64.0.0/10 timeout 1000ms }",
    );
    expect(nftUnblockScript([v4("198.51.100.7")]).trimEnd().split("\n")).to.deep.equal([
      "add element inet secarc blocked4 { 198.51.100.7 }",
      "delete element inet secarc blocked4 { 198.51.100.7 }",
    ]);
  });

  it("parses nft -j list set output (timed, permanent, networks)", () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        {
          set: {
            family: "inet",
            name: "blocked4",
            elem: [
              { elem: { val: "198.51.100.7", timeout: 60, expires: 59 } },
              "198.51.100.8",
              { elem: { val: { prefix: { addr: "100.64.0.0", len: 10 } }, timeout: 10, expires: 3 } },
            ],
          },
        },
      ],
    });
    expect(parseNftSetJson(json, 4)).to.deep.equal([
      { text: "198.51.100.7", family: 4, expiresInMs: 59_000 },
      { text: "198.51.100.8", family: 4 },
      { text: "100.64.0.0/10", family: 4, expiresInMs: 3000 },
    ]);
  });

  it("sends scripts to `nft -f -` on stdin and reports nft's own error", async () => {
    const runner = createRecordingRunner((c) => (c.args[0] === "-f" && c.input?.startsWith("add") ? { code: 1, stdout: "", stderr: "Error: No such file or directory\n" } : { code: 0, stdout: "", stderr: "" }));
    const backend = createNftablesBackend({ runner });
    await backend.ensure();
    expect(runner.commands[0]).to.include({ file: "nft" });
    expect(runner.commands[0]!.args).to.deep.equal(["-f", "-"]);
    let error: unknown;
    try {
      await backend.block([{ target: v4("198.51.100.7"), timeoutMs: 1000 }]);
    } catch (err) {
      error = err;
    }
    expect(error).to.include({ code: "command_failed", retryable: true });
    expect((error as Error).message).to.equal("nft -f - failed (exit 1): Error: No such file or directory");
  });
});
