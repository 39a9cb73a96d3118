import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { HostFactsSchema } from "../../gen/secarc/v1/agent_service_pb.js";
import { decodeHostFacts, describeHostFacts, encodeHostFacts, formatBytes, formatUptime, hostFactsRecord } from "./host-facts.js";

const AT = new Date("2026-12-01T12:00:00Z");
const HOUR = 3_600_000;
const FACTS = create(HostFactsSchema, {
  osName: "Debian GNU/Linux",
  osVersion: "12 (bookworm)",
  kernel: "6.1.0-18-amd64",
  architecture: "x64",
  uptime: durationFromMs(50 * HOUR + 5 * 60_000),
  memoryTotalBytes: 25_275_990_016n,
  cpuModel: "AMD EPYC 7543",
  cpuCores: 8,
  cpuPhysicalCores: 4,
  machine: "QEMU Standard PC",
});

describe("controller host facts", () => {
  it("turns the uptime into a boot time on the controller's clock and cuts agent text", () => {
    const record = hostFactsRecord(create(HostFactsSchema, { ...FACTS, machine: "m".repeat(300) }), AT)!;
    expect(record.bootedAt!.toISOString()).to.equal("2026-11-29T09:55:00.000Z");
    expect(record.machine).to.have.length(200);
    expect(record.memoryTotalBytes).to.equal(25_275_990_016);
  });

  it("a Hello without facts has no record; without uptime there is no boot time", () => {
    expect(hostFactsRecord(undefined, AT)).to.equal(undefined);
    expect(hostFactsRecord(create(HostFactsSchema, { kernel: "6.1" }), AT)!.bootedAt).to.equal(undefined);
  });

  it("survives the store's encoding, and refuses what is not a record", () => {
    const record = hostFactsRecord(FACTS, AT)!;
    expect(decodeHostFacts(encodeHostFacts(record))).to.deep.equal(record);
    expect(encodeHostFacts(undefined)).to.equal(null);
    expect(decodeHostFacts(null)).to.equal(undefined);
    expect(decodeHostFacts("{not json")).to.equal(undefined);
    expect(decodeHostFacts('{"kernel": 5}')!.kernel).to.equal("");
  });

  it("describes the host in one line, the uptime counted to now", () => {
    const record = hostFactsRecord(FACTS, AT)!;
    expect(describeHostFacts(record, AT.getTime() + HOUR)).to.equal("Debian GNU/Linux 12 (bookworm) · kernel 6.1.0-18-amd64 x64 · AMD EPYC 7543 ×8 (4 cores) · 23.5 GiB · up 2 d 3 h · QEMU Standard PC");
    expect(describeHostFacts(hostFactsRecord(create(HostFactsSchema, { kernel: "6.1", cpuCores: 2, cpuPhysicalCores: 2 }), AT)!, AT.getTime())).to.equal("kernel 6.1 · ×2");
  });

  it("formats uptimes and sizes", () => {
    expect([formatUptime(4 * 60_000 + 59_000), formatUptime(3 * HOUR + 5 * 60_000), formatUptime(26 * HOUR), formatUptime(-5)]).to.deep.equal(["4 min", "3 h 5 min", "1 d 2 h", "0 min"]);
    expect([formatBytes(512 * 1024 ** 2), formatBytes(2 * 1024 ** 3)]).to.deep.equal(["512 MiB", "2.0 GiB"]);
  });
});
