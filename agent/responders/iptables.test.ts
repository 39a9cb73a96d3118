import { expect } from "chai";
import { createRecordingRunner } from "./program-runner.js";
import { createIptablesBackend, ipsetBlockScript, parseIpsetSave } from "./iptables.js";

describe("iptables backend", () => {
  it("blocks through `ipset restore -exist` with whole seconds (capped), 0 = permanent", () => {
    expect(
      ipsetBlockScript([
        { target: { text: "198.51.100.7", ip: "198.51.100.7", family: 4 }, timeoutMs: 1500 },
        { target: { text: "2001:db8::7", ip: "2001:db8::7", family: 6 }, timeoutMs: 0 },
        { target: { text: "198.51.100.9", ip: "198.51.100.9", family: 4 }, timeoutMs: 100 * 86_400_000 },
      ]),
    ).to.equal("add secarc-blocked4 198.51.100.7 timeout 2\nadd secarc-blocked6 2001:db8::7 timeout 0\nadd secarc-blocked4 198.51.100.9 timeout 2147483\n");
  });

  it("parses ipset save output", () => {
    const text = "create secarc-blocked4 hash:ip family inet hashsize 1024 maxelem 65536 timeout 0\nadd secarc-blocked4 198.51.100.7 timeout 49\nadd secarc-blocked4 198.51.100.8 timeout 0\n";
    expect(parseIpsetSave(text, 4)).to.deep.equal([
      { text: "198.51.100.7", family: 4, expiresInMs: 49_000 },
      { text: "198.51.100.8", family: 4 },
    ]);
  });

  it("inserts the jump from INPUT only when it is missing", async () => {
    const runner = createRecordingRunner((c) => (c.args.includes("-C") && c.file === "iptables" ? { code: 1, stdout: "", stderr: "" } : { code: 0, stdout: "", stderr: "" }));
    await createIptablesBackend({ runner }).ensure();
    const lines = runner.commands.map((c) => [c.file, ...c.args].join(" "));
    expect(lines).to.include("iptables -w -I INPUT 1 -j SECARC");
    expect(lines).to.not.include("ip6tables -w -I INPUT 1 -j SECARC");
    expect(lines).to.include("ipset create secarc-blocked6 hash:ip family inet6 timeout 0 maxelem 1048576 -exist");
    const restore = runner.commands.find((c) => c.file === "iptables-restore")!;
    expect(restore.input).to.equal("*filter\n:SECARC - [0:0]\n-A SECARC -m set --match-set secarc-blocked4 src -j DROP\nCOMMIT\n");
  });
});
