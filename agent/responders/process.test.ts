import { spawn, type ChildProcess } from "node:child_process";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { Answer, ResponseActionSchema, ResultStatus, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { createProcessResponder } from "./process.js";
import { readProc } from "../proc/proc-sockets.js";
import { exited } from "../../test/support/child-exit.js";

function kill(pid: number, startTicks: bigint): ResponseAction {
  return create(ResponseActionSchema, { actionId: "k", answer: Answer.KILL_PROCESS, target: { target: { case: "process", value: { pid, startTicks, name: "x" } } } });
}

describe("process responder (real processes)", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
  });
  const responder = (dryRun = false, graceMs = 300) => createProcessResponder({ logger: silentLogger(), dryRun, graceMs });

  it("kills the process whose start time matches", async () => {
    const child = spawn("sleep", ["30"]);
    children.push(child);
    const info = readProc(child.pid!)!;
    const outcome = await responder().execute(kill(child.pid!, info.startTicks));
    expect(outcome).to.deep.equal({ status: ResultStatus.DONE, detail: `terminated sleep (pid ${child.pid})` });
    expect(await exited(child, 2000)).to.equal(true);
    expect(child.signalCode).to.equal("SIGTERM");
  });

  it("uses SIGKILL after the grace period when SIGTERM is ignored", async () => {
    const child = spawn("bash", ["-c", "trap '' TERM; echo ready; sleep 30 & wait"], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(child);
    await new Promise((r) => child.stdout!.once("data", r));
    const info = readProc(child.pid!)!;
    const outcome = await responder(false, 200).execute(kill(child.pid!, info.startTicks));
    expect(outcome.detail).to.equal(`killed bash (pid ${child.pid}) (SIGKILL after 200 ms)`);
    expect(await exited(child, 2000)).to.equal(true);
    expect(child.signalCode).to.equal("SIGKILL");
  });

  it("refuses a reused PID (start time differs), PID 1, itself, bad input; touches nothing", async () => {
    const child = spawn("sleep", ["30"]);
    children.push(child);
    const info = readProc(child.pid!)!;
    const r = responder();
    const reused = await r.execute(kill(child.pid!, info.startTicks - 1n));
    expect(reused.status).to.equal(ResultStatus.REFUSED);
    expect(reused.detail).to.equal(`refused: PID reused: process ${child.pid} (sleep) started at tick ${info.startTicks}, the alert's at ${info.startTicks - 1n}`);
    expect((await r.execute(kill(1, 1n))).detail).to.equal("refused: pid 1 (init) is never killed");
    expect((await r.execute(kill(process.pid, readProc(process.pid)!.startTicks))).detail).to.equal(`refused: pid ${process.pid} is the SecARC agent itself`);
    expect((await r.execute(kill(0, 1n))).detail).to.equal("refused: 0 is not a valid pid");
    expect((await r.execute(kill(child.pid!, 0n))).detail).to.equal(`refused: no start time given for pid ${child.pid}; cannot tell it from a reused pid`);
    expect((await r.execute(kill(4_100_000, 5n))).detail).to.equal("refused: process 4100000 does not exist (already ended?)");
    expect((await r.execute(kill(5_000_000, 5n))).detail).to.equal("refused: 5000000 is not a valid pid");
    expect((await r.execute(create(ResponseActionSchema, { answer: Answer.KILL_PROCESS }))).detail).to.equal("refused: KILL_PROCESS needs a process (target.process)");
    expect(await exited(child, 200)).to.equal(false);
    const dry = await responder(true).execute(kill(child.pid!, info.startTicks));
    expect(dry).to.deep.equal({ status: ResultStatus.DONE, dryRun: true, detail: `dry run: would send SIGTERM to sleep (pid ${child.pid}), SIGKILL after 300 ms` });
    expect(await exited(child, 200)).to.equal(false);
  });
});
