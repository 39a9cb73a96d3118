import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Logger } from "../common/log.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import type { Responder } from "./responders/responder.js";
import type { RespondersConfig } from "./responders/config.js";

/** Linux capability numbers (linux/capability.h) the responders need. */
export const CAP_KILL = 5;
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_BOOT = 22;

/** What the probe looks at; injected in tests, read from the host otherwise. */
export interface CapabilityFacts {
  /** The effective capability set (CapEff of /proc/self/status). */
  effective: bigint;
  /** The process's user id. */
  uid: number;
  /** Whether a program is found on PATH and executable. */
  hasProgram(name: string): boolean;
}

/** An answer this agent will not offer, and why (Hello.unavailable_answers). */
export interface DroppedAnswer {
  answer: Answer;
  reason: string;
}

/** Reads the facts of this process: /proc/self/status and PATH. */
export function readCapabilityFacts(env: NodeJS.ProcessEnv = process.env): CapabilityFacts {
  let effective = 0n;
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapEff:"));
    if (line) effective = BigInt(`0x${line.slice("CapEff:".length).trim()}`);
  } catch {
    // Not Linux, or /proc not mounted: no capabilities known.
  }
  const path = (env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter).filter(Boolean);
  return {
    effective,
    uid: process.getuid?.() ?? -1,
    hasProgram(name) {
      return path.some((dir) => {
        try {
          accessSync(join(dir, name), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    },
  };
}

const has = (facts: CapabilityFacts, cap: number) => (facts.effective & (1n << BigInt(cap))) !== 0n;

/**
 * The answers this agent cannot carry out with the rights it has, each with
 * the reason: Block / Unblock IP need CAP_NET_ADMIN and the firewall program
 * of the configured backend; ending sessions and processes needs CAP_KILL;
 * Reboot / Shut down need CAP_SYS_BOOT or root (systemd is asked over
 * D-Bus). With responders.dryRun nothing is executed, so nothing is dropped.
 * Allow, Ignore and Revoke allow only write the agent's own state.
 */
export function unavailableAnswers(facts: CapabilityFacts, config: Pick<RespondersConfig, "dryRun" | "firewall">): DroppedAnswer[] {
  if (config.dryRun) return [];
  const dropped: DroppedAnswer[] = [];
  const firewall = firewallReason(facts, config.firewall.backend);
  if (firewall) for (const answer of [Answer.BLOCK_IP, Answer.UNBLOCK_IP]) dropped.push({ answer, reason: firewall });
  if (!has(facts, CAP_KILL)) {
    const reason = "no CAP_KILL: cannot end other users' processes (run the agent as root, or give it CAP_KILL)";
    for (const answer of [Answer.CLOSE_SESSION, Answer.KILL_PROCESS]) dropped.push({ answer, reason });
  }
  if (!has(facts, CAP_SYS_BOOT) && facts.uid !== 0) {
    const reason = "neither root nor CAP_SYS_BOOT: cannot reboot or power off";
    for (const answer of [Answer.REBOOT, Answer.SHUTDOWN]) dropped.push({ answer, reason });
  }
  return dropped;
}

function firewallReason(facts: CapabilityFacts, backend: "auto" | "nftables" | "iptables"): string | undefined {
  if (!has(facts, CAP_NET_ADMIN)) return "no CAP_NET_ADMIN: cannot change the firewall (run the agent as root, or give it CAP_NET_ADMIN)";
  const nft = facts.hasProgram("nft");
  const iptables = facts.hasProgram("iptables") && facts.hasProgram("ipset");
  if (backend === "nftables" && !nft) return "nft not found on PATH (responders.firewall.backend is nftables): install nftables";
  if (backend === "iptables" && !iptables) return "iptables or ipset not found on PATH (responders.firewall.backend is iptables): install them";
  if (backend === "auto" && !nft && !iptables) return "neither nft nor iptables with ipset found on PATH: install nftables";
  return undefined;
}

/** The responders less the dropped answers, each reason logged once at start. */
export function withoutDropped(responders: Map<Answer, Responder>, dropped: readonly DroppedAnswer[], logger: Logger): Map<Answer, Responder> {
  if (dropped.length === 0) return responders;
  const kept = new Map(responders);
  const byReason = new Map<string, string[]>();
  for (const { answer, reason } of dropped) {
    kept.delete(answer);
    byReason.set(reason, [...(byReason.get(reason) ?? []), Answer[answer] ?? String(answer)]);
  }
  for (const [reason, answers] of byReason) logger.warn({ answers, reason }, `answers not offered: ${answers.join(", ")}: ${reason}`);
  return kept;
}
