import { readFileSync } from "node:fs";
import { cpus, release, totalmem, uptime } from "node:os";
import { Writable } from "node:stream";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { createLogger, type Logger } from "../common/log.js";
import { createHostFacts, gatherWithSysteminformation, type GatheredFacts } from "./host-facts.js";

function capture(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) messages.push(String((JSON.parse(line) as { msg?: string }).msg));
      done();
    },
  });
  return { logger: createLogger({ level: "debug", destination }), messages };
}

const GATHERED: GatheredFacts = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", cpuModel: "AMD EPYC 7543", cpuCores: 8, cpuPhysicalCores: 4, machine: "QEMU KVM" };

describe("host facts (Hello 10)", () => {
  it("answers at once with node:os's facts while systeminformation has not answered", () => {
    const { logger } = capture();
    const facts = createHostFacts({ logger, gather: () => new Promise(() => {}), deadlineMs: 60_000 }).hello();
    expect(facts.osName).to.equal("");
    expect(facts.kernel).to.equal(release());
    expect(facts.memoryTotalBytes).to.equal(BigInt(totalmem()));
    expect(facts.cpuCores).to.equal(cpus().length);
    expect(facts.cpuModel).to.equal(cpus()[0]?.model.trim() ?? "");
    expect(facts.architecture).to.equal(process.arch);
    const up = durationMs(facts.uptime!);
    expect(up).to.be.within(0, uptime() * 1000 + 1000);
  });

  it("carries systeminformation's facts once it answered", async () => {
    const { logger } = capture();
    const reader = createHostFacts({ logger, gather: async () => GATHERED });
    await reader.settled;
    const facts = reader.hello();
    expect([facts.osName, facts.osVersion, facts.cpuModel, facts.cpuCores, facts.cpuPhysicalCores, facts.machine]).to.deep.equal(["Debian GNU/Linux", "12 (bookworm)", "AMD EPYC 7543", 8, 4, "QEMU KVM"]);
    expect(facts.kernel).to.equal(release());
  });

  it("misses the deadline: warns, Hello goes on with node:os's facts, a late answer is taken for the next Hello", async () => {
    const { logger, messages } = capture();
    let answer: (facts: GatheredFacts) => void = () => {};
    const reader = createHostFacts({ logger, deadlineMs: 20, gather: () => new Promise((resolve) => (answer = resolve)) });
    await reader.settled;
    expect(messages.some((m) => m.includes("did not answer in time"))).to.equal(true);
    expect(reader.hello().osName).to.equal("");
    answer(GATHERED);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reader.hello().osName).to.equal("Debian GNU/Linux");
    expect(messages.some((m) => m.includes("answered late"))).to.equal(true);
  });

  it("a failing systeminformation is logged and leaves node:os's facts", async () => {
    const { logger, messages } = capture();
    const reader = createHostFacts({ logger, gather: () => Promise.reject(new Error("lscpu: not found")) });
    await reader.settled;
    expect(messages.some((m) => m.includes("systeminformation failed"))).to.equal(true);
    expect(reader.hello().kernel).to.equal(release());
  });

  it("cuts strings to 200 characters", async () => {
    const { logger } = capture();
    const reader = createHostFacts({ logger, gather: async () => ({ ...GATHERED, machine: "x".repeat(500) }) });
    await reader.settled;
    expect(reader.hello().machine).to.have.length(200);
  });

  it("systeminformation on this host names the distribution /etc/os-release names", async function () {
    this.timeout(30_000);
    const osRelease = Object.fromEntries(
      readFileSync("/etc/os-release", "utf8")
        .split("\n")
        .map((line) => /^([A-Z_]+)=("?)(.*)\2$/.exec(line))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[3]]),
    ) as Record<string, string>;
    const facts = await gatherWithSysteminformation();
    expect(facts.osName).to.equal(osRelease.NAME);
    if (osRelease.VERSION_ID) expect(facts.osVersion).to.include(osRelease.VERSION_ID);
    expect(facts.cpuCores).to.equal(cpus().length);
    expect(facts.cpuPhysicalCores).to.be.within(1, facts.cpuCores);
  });
});
