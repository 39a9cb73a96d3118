import { expect } from "chai";
import { main } from "./secarc.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe("secarc command line", () => {
  it("--help lists every subcommand and exits 0", async () => {
    const c = capture();
    expect(await main(["--help"], c.io)).to.equal(0);
    for (const sub of ["controller", "agent", "certs", "replay"]) expect(c.out.join("")).to.match(new RegExp(`^  ${sub}\\s`, "m"));
  });

  it("an unknown subcommand exits 2 and names it", async () => {
    const c = capture();
    expect(await main(["frobnicate"], c.io)).to.equal(2);
    expect(c.err.join("")).to.contain('unknown command "frobnicate"');
  });

  it("an unknown option exits 2 and names it", async () => {
    const c = capture();
    expect(await main(["agent", "--bogus"], c.io)).to.equal(2);
    expect(c.err.join("")).to.contain("--bogus");
  });

  for (const sub of ["controller", "agent", "certs", "replay"]) {
    it(`secarc ${sub} --help prints usage`, async () => {
      const c = capture();
      expect(await main([sub, "--help"], c.io)).to.equal(0);
      expect(c.out.join("")).to.contain(`Usage: secarc ${sub}`);
    });
  }

  it("no arguments prints usage and exits 2", async () => {
    const c = capture();
    expect(await main([], c.io)).to.equal(2);
    expect(c.out.join("")).to.contain("Usage: secarc <command>");
  });
});

describe("secarc --version", () => {
  it("prints the version and the protocol package the generated code uses", async () => {
    const { AgentService } = await import("../gen/secarc/v1/agent_service_pb.js");
    const c = capture();
    expect(await main(["--version"], c.io)).to.equal(0);
    const text = c.out.join("");
    expect(text).to.match(/^secarc \d+\.\d+\.\d+/);
    expect(AgentService.typeName.startsWith(`${/protocol: (\S+)/.exec(text)?.[1]}.`)).to.equal(true);
  });
});
