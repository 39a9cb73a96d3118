import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { FirewallConfig } from "./config.js";
import type { FirewallBackend, NetworkSets } from "./firewall-backend.js";
import { createIptablesBackend } from "./iptables.js";
import { createNftablesBackend } from "./nftables.js";
import { createRecordingRunner, formatCommand, type ProgramRunner } from "./program-runner.js";

/**
 * The firewall's way to the kernel: the backend chosen once ("auto": nftables
 * when `nft` runs, else iptables), its table set up before the first change,
 * and one retry after setting it up again when a change fails (someone may
 * have flushed the ruleset). `wouldRun` records instead of executing (dry run).
 */
export interface FirewallKernel {
  /** The backend, chosen at first use. */
  backend(): Promise<FirewallBackend>;
  /** Runs `fn` on a set-up backend; on failure sets the table up again and retries once. */
  change(fn: (b: FirewallBackend) => Promise<void>): Promise<void>;
  /** Sets the table up if not done yet. */
  ready(): Promise<FirewallBackend>;
  /** Marks the table as set up (a restore transaction did it). */
  markReady(): void;
  /** What `fn` would run, as one line, without running it (the table setup left out). */
  wouldRun(fn: (b: FirewallBackend) => Promise<void>): Promise<string>;
}

export interface FirewallKernelDeps {
  config: FirewallConfig;
  /** Which families get interval sets for networks (firewall.allowCidr, or a block prefix shorter than an address). */
  networkSets: NetworkSets;
  runner: ProgramRunner;
  logger: Logger;
  /** A ready backend (tests); by default chosen from config.backend. */
  backend?: FirewallBackend;
}

export function createFirewallKernel(deps: FirewallKernelDeps): FirewallKernel {
  const { config, networkSets, logger } = deps;
  let backend: FirewallBackend | undefined = deps.backend;
  let isReady = false;
  const make = (kind: "nftables" | "iptables", runner: ProgramRunner): FirewallBackend =>
    kind === "nftables" ? createNftablesBackend({ runner, networkSets }) : createIptablesBackend({ runner, networkSets });
  const chooseKind = async (): Promise<"nftables" | "iptables"> => {
    if (config.backend !== "auto") return config.backend;
    const nft = await deps.runner.run({ file: "nft", args: ["--version"], timeoutMs: 5000 });
    return nft.code === 0 ? "nftables" : "iptables";
  };
  const get = async (): Promise<FirewallBackend> => (backend ??= make(await chooseKind(), deps.runner));
  const ready = async (): Promise<FirewallBackend> => {
    const b = await get();
    if (!isReady) {
      await b.ensure();
      isReady = true;
    }
    return b;
  };
  return {
    backend: get,
    ready,
    markReady: () => {
      isReady = true;
    },
    async change(fn) {
      const b = await ready();
      try {
        await fn(b);
      } catch (err) {
        logger.warn({ err: describeError(err) }, "firewall change failed; setting up the table again and retrying");
        await b.ensure();
        await fn(b);
      }
    },
    async wouldRun(fn) {
      const recorder = createRecordingRunner();
      await fn(make((await get()).name, recorder));
      return recorder.commands.map(formatCommand).join(" && ");
    },
  };
}
