import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ActionTargetSchema, Answer, ResponseActionSchema, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { respondersConfigSchema, type RespondersConfigInput } from "../../agent/responders/config.js";
import { createNetnsRunner } from "./netns-runner.js";
import { createResponderSet, type ResponderSet } from "../../agent/responders/registry.js";
import type { Responder } from "../../agent/responders/responder.js";
import type { BlockPrefixes } from "../../agent/responders/block-prefix.js";
import { createLab, nsExec, type Lab } from "./netns.js";

/**
 * A lab for responder system tests: a server namespace and clients (see
 * createLab), and responders acting on the server namespace — commands
 * through `ip netns exec SERVER`, SSH sessions looked up among the server
 * namespace's processes, the server's addresses as "own addresses", and a
 * controller address inside the lab network (.200 / ::200).
 */
export interface ResponderLab {
  lab: Lab;
  stateDir: string;
  controller4: string;
  controller6: string;
  /**
   * A responder set on the lab's state dir (a second call = an agent
   * restart). `block`: the block prefixes; default one address each (/32,
   * /128), since the lab's server and clients share one /64.
   */
  responders(config?: RespondersConfigInput, now?: () => number, block?: BlockPrefixes): ResponderSet;
  /** `nft list ruleset` in the server namespace, with the ever-changing "expires ..." of set elements left out. */
  ruleset(): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createResponderLab(clients = 2): Promise<ResponderLab> {
  const lab = await createLab({ clients });
  const stateDir = mkdtempSync(join(tmpdir(), "secarc-responders-"));
  const base4 = lab.network4.replace(/\.0\/24$/, "");
  const base6 = lab.network6.replace(/::\/64$/, "");
  const controller4 = `${base4}.200`;
  const controller6 = `${base6}::200`;
  return {
    lab,
    stateDir,
    controller4,
    controller6,
    responders(config = {}, now = Date.now, block = { ipv4Prefix: 32, ipv6Prefix: 128 }) {
      return createResponderSet(respondersConfigSchema.parse(config), {
        logger: silentLogger(),
        now,
        controllerAddresses: [controller4, controller6],
        stateDir,
        runner: createNetnsRunner(lab.server.ns),
        ownAddresses: () => ["127.0.0.1", "::1", lab.server.ipv4, lab.server.ipv6],
        procScope: { netnsPath: `/run/netns/${lab.server.ns}` },
        hasSystemd: () => true,
        blockPrefixes: block,
      });
    },
    async ruleset() {
      const result = await nsExec(lab.server.ns, "nft", ["list", "ruleset"]);
      if (result.code !== 0) throw new Error(`nft list ruleset: ${result.stderr}`);
      return result.stdout.replace(/ expires [0-9dhms]+/g, "");
    },
    async cleanup() {
      await lab.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/** A ResponseAction for tests. */
export function action(
  answer: Answer,
  target?: MessageInitShape<typeof ActionTargetSchema>["target"],
  options: { durationMs?: number; delayMs?: number; actionId?: string; alertId?: string } = {},
): ResponseAction {
  counter += 1;
  return create(ResponseActionSchema, {
    actionId: options.actionId ?? `test-action-${process.pid}-${counter}`,
    alertId: options.alertId ?? `test-alert-${counter}`,
    answer,
    ...(target ? { target: { target } } : {}),
    options: {
      ...(options.durationMs !== undefined ? { duration: durationFromMs(options.durationMs) } : {}),
      ...(options.delayMs !== undefined ? { delay: durationFromMs(options.delayMs) } : {}),
    },
  });
}

/** Shorthands for targets. */
export const ipTarget = (ip: string) => ({ case: "ip" as const, value: ip });
export const sessionTarget = (sshdPid: number, sourceIp: string, sourcePort: number) => ({
  case: "session" as const,
  value: { sshdPid, sourceIp, sourcePort, user: "secarc-test" },
});
export const processTarget = (pid: number, startTicks: bigint, name = "") => ({ case: "process" as const, value: { pid, startTicks, name } });

/** One execution seen by `recordExecutions`. */
export interface RecordedExecution {
  answer: Answer;
  actionId: string;
}

/**
 * Wraps real responders so that each execution is recorded in `into` before
 * the real one runs; `answers` limits the set (default: all of them).
 */
export function recordExecutions(
  real: ReadonlyMap<Answer, Responder>,
  into: RecordedExecution[],
  answers: readonly Answer[] = [...real.keys()],
): Map<Answer, Responder> {
  const out = new Map<Answer, Responder>();
  for (const answer of answers) {
    const responder = real.get(answer);
    if (!responder) throw new Error(`no responder for ${Answer[answer]}`);
    out.set(answer, {
      name: responder.name,
      answers: responder.answers,
      execute(action) {
        into.push({ answer: action.answer, actionId: action.actionId });
        return responder.execute(action);
      },
    });
  }
  return out;
}
