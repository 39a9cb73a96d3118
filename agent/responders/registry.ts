import { networkInterfaces } from "node:os";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { Logger } from "../../common/log.js";
import type { BlockPrefixes } from "./block-prefix.js";
import type { RespondersConfig } from "./config.js";
import { createAllowResponder } from "./allow-responder.js";
import { createProgramRunner, type ProgramRunner } from "./program-runner.js";
import { createFirewall, type Firewall } from "./firewall.js";
import { createFirewallResponder } from "./firewall-responder.js";
import { createMuteStore, type MuteStore } from "./mute-store.js";
import { createPowerResponder } from "./power.js";
import { createProcessResponder } from "./process.js";
import type { Responder } from "./responder.js";
import { createCloseSessionResponder } from "./close-session.js";
import type { ProcScope } from "./ssh-session-finder.js";

/** Context the agent gives responders: addresses that must never be blocked, among others. */
export interface ResponderDeps {
  logger: Logger;
  now: () => number;
  /** The controller's address(es), never blocked. */
  controllerAddresses: string[];
  /** A directory the responders may keep state in (e.g. active blocks to re-apply). */
  stateDir: string;
  /** Runs every program. Default: execFile on this host (createProgramRunner()). */
  runner?: ProgramRunner;
  /** This host's addresses, never blocked. Default: every address of os.networkInterfaces(). */
  ownAddresses?: () => readonly string[];
  /** Which processes sessions are looked up among. Default: those in the agent's network namespace. */
  procScope?: ProcScope;
  /** Whether systemd runs (power method "auto"). Default: /run/systemd/system exists. */
  hasSystemd?: () => boolean;
  /** How much a block of one address covers (the agent config's `block`). Default: IPv4 /32, IPv6 /64. */
  blockPrefixes?: BlockPrefixes;
}

/** The responders and the services behind them that the agent uses directly. */
export interface ResponderSet {
  /** Keyed by the answers they carry out; the agent advertises the keys in Hello. */
  responders: Map<Answer, Responder>;
  /** Blocks: `reapply()` at start, `list()` for /blocks. */
  firewall: Firewall;
  /** ALLOW/IGNORE decisions and the allow-list: the agent's alert mute asks `find("ip", address, now)`. */
  mutes: MuteStore;
}

/** Every address of this host's interfaces. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.replace(/%.*$/, "")));
}

type AnswerKey = Exclude<Answer, Answer.UNSPECIFIED>;

/** Builds the responders and their services; nothing runs until an action (or reapply) comes. */
export function createResponderSet(config: RespondersConfig, deps: ResponderDeps): ResponderSet {
  const runner = deps.runner ?? createProgramRunner();
  const dryRun = config.dryRun;
  const graceMs = config.sessions.graceMs;
  const firewall = createFirewall(
    { config: config.firewall, dryRun, graceMs, ...(deps.blockPrefixes ? { prefixes: deps.blockPrefixes } : {}) },
    {
      runner,
      logger: deps.logger,
      now: deps.now,
      stateDir: deps.stateDir,
      controllerAddresses: deps.controllerAddresses,
      ownAddresses: deps.ownAddresses ?? hostAddresses,
      ...(deps.procScope ? { procScope: deps.procScope } : {}),
    },
  );
  const mutes = createMuteStore(deps.stateDir, deps.now);
  const firewallResponder = createFirewallResponder(firewall, { mutes, now: deps.now });
  const allows = createAllowResponder({
    mutes,
    logger: deps.logger,
    now: deps.now,
    dryRun,
    defaultAllowDurationMs: config.decisions.defaultAllowDuration,
    firewall,
  });
  const session = createCloseSessionResponder({ logger: deps.logger, dryRun, graceMs, ...(deps.procScope ? { procScope: deps.procScope } : {}) });
  const processResponder = createProcessResponder({ logger: deps.logger, dryRun, graceMs, ...(deps.procScope?.procRoot ? { procRoot: deps.procScope.procRoot } : {}) });
  const power = createPowerResponder(config.power, { runner, logger: deps.logger, dryRun, ...(deps.hasSystemd ? { hasSystemd: deps.hasSystemd } : {}) });

  // A new Answer value fails the build here until it has a responder.
  const table = {
    [Answer.ALLOW]: allows,
    [Answer.IGNORE]: allows,
    [Answer.CLOSE_SESSION]: session,
    [Answer.BLOCK_IP]: firewallResponder,
    [Answer.UNBLOCK_IP]: firewallResponder,
    [Answer.KILL_PROCESS]: processResponder,
    [Answer.REBOOT]: power,
    [Answer.SHUTDOWN]: power,
    [Answer.REVOKE_ALLOW]: allows,
  } satisfies Record<AnswerKey, Responder>;

  const responders = new Map<Answer, Responder>();
  for (const [key, responder] of Object.entries(table)) responders.set(Number(key) as Answer, responder);
  return { responders, firewall, mutes };
}

/**
 * Builds the responders, keyed by the answers they carry out, and starts
 * re-applying the persisted blocks in the background (the firewall runs
 * its operations in order, so actions wait for it).
 */
export function createResponders(config: RespondersConfig, deps: ResponderDeps): Map<Answer, Responder> {
  const set = createResponderSet(config, deps);
  void set.firewall.reapply().then((result) => {
    if (result.error !== undefined) deps.logger.error({ error: result.error }, "re-applying blocks failed");
  });
  return set.responders;
}
