import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Answer } from "../gen/secarc/v1/action_pb.js";
import type { Logger } from "../common/log.js";
import { readCapabilityFacts, unavailableAnswers, withoutDropped, type CapabilityFacts, type DroppedAnswer } from "./capabilities.js";
import type { AgentConfig } from "./config.js";
import type { MuteStore } from "./responders/mute-store.js";
import { createResponderSet, type ResponderDeps } from "./responders/registry.js";
import type { Responder } from "./responders/responder.js";

/** What the agent gives whoever builds its responders. */
export interface ResponderContext {
  config: AgentConfig;
  logger: Logger;
  now: () => number;
  /** The controller's addresses, never blocked. */
  controllerAddresses: string[];
  /** The agent's state directory (blocks.json, mutes.json). */
  stateDir: string;
}

/** The responders as the agent uses them. */
export interface AgentResponders {
  /** Keyed by the answers they carry out (advertised in Hello.actions), less the unavailable ones. */
  responders: Map<Answer, Responder>;
  /** Answers this host cannot carry out, with why (Hello.unavailable_answers). */
  unavailable: DroppedAnswer[];
  /** ALLOW / IGNORE entries, read by the alert mute. */
  mutes: MuteStore;
  /** Puts stored state back before the agent connects (the blocks into the kernel); never throws. */
  restore(): Promise<void>;
}

export interface HostRespondersOptions {
  /** What the rights probe sees. Default: this process's (readCapabilityFacts()). */
  capabilities?: CapabilityFacts;
  /** Collaborators of the responder registry (program runner, own addresses, /proc scope). Default: this host's. */
  deps?: Partial<Pick<ResponderDeps, "runner" | "ownAddresses" | "procScope" | "hasSystemd">>;
}

/**
 * The responders of a real host: the registry over config.responders, the
 * answers this process has no rights for left out (said at start and in
 * Hello), the stored blocks re-applied (one transaction) by `restore`.
 */
export function createHostResponders(context: ResponderContext, options: HostRespondersOptions = {}): AgentResponders {
  const { config, logger, now } = context;
  const set = createResponderSet(config.responders, {
    logger,
    now,
    controllerAddresses: context.controllerAddresses,
    stateDir: context.stateDir,
    blockPrefixes: config.block,
    ...options.deps,
  });
  const unavailable = unavailableAnswers(options.capabilities ?? readCapabilityFacts(), config.responders);
  return {
    responders: withoutDropped(set.responders, unavailable, logger),
    unavailable,
    mutes: set.mutes,
    async restore() {
      const reapplied = await set.firewall.reapply();
      if (reapplied.error !== undefined) logger.error({ error: reapplied.error }, "re-applying blocks failed");
    },
  };
}

/** The controller's addresses (never blocked by responders) from "host:port"; a name is resolved once at start. */
export async function controllerAddressesOf(address: string): Promise<string[]> {
  const host = address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((entry) => entry.address);
  } catch {
    return [];
  }
}
