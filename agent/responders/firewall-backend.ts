import { SecarcError } from "../../common/errors.js";
import { commandError, type Command, type ProgramRunner } from "./program-runner.js";
import type { IpFamily, IpTarget } from "./ip-policy.js";

/**
 * A firewall backend keeps a kernel set of blocked addresses with
 * per-element timeouts and one drop rule per address family that looks the
 * source address up in it: the ruleset stays the same size however many
 * addresses are blocked. Backends run their programs through the ProgramRunner
 * they were built with and throw SecarcError("command_failed") with the
 * program's own message when one fails.
 */
export interface FirewallBackend {
  readonly name: "nftables" | "iptables";
  /** Creates the table/sets/chains/rules if missing; idempotent (never duplicates a rule). */
  ensure(): Promise<void>;
  /** Adds the addresses, or refreshes their timeouts when already present; never duplicates. One transaction where the backend allows. */
  block(specs: readonly BlockSpec[]): Promise<void>;
  /**
   * Optional: sets up the table and makes the sets hold exactly `specs`, in
   * one transaction (the re-apply at agent start). Without it, re-apply is
   * ensure() then block().
   */
  restore?(specs: readonly BlockSpec[]): Promise<void>;
  /** Removes the addresses; absent ones are not an error. */
  unblock(targets: readonly IpTarget[]): Promise<void>;
  /** The addresses the kernel blocks now, with time left. */
  list(): Promise<KernelBlock[]>;
  /** Removes everything the backend created (uninstall, tests). */
  remove(): Promise<void>;
}

/** Which address families keep a set of networks (interval / hash:net) beside the set of addresses. */
export interface NetworkSets {
  4: boolean;
  6: boolean;
}

/** `true`: both families; `false`: neither. */
export function networkSetsOf(value: boolean | NetworkSets | undefined): NetworkSets {
  if (typeof value === "object") return value;
  return { 4: value ?? false, 6: value ?? false };
}

export interface BlockSpec {
  target: IpTarget;
  /** How long, in ms; 0 = until unblocked. */
  timeoutMs: number;
}

export interface KernelBlock {
  /** "198.51.100.7", "2001:db8::7" or a network "198.51.100.0/24". */
  text: string;
  family: IpFamily;
  /** Time left in ms; undefined = until unblocked. */
  expiresInMs?: number;
}

/** Runs a command and throws SecarcError("command_failed") if it fails. */
export async function runChecked(runner: ProgramRunner, command: Command): Promise<string> {
  const result = await runner.run(command);
  if (result.code !== 0) throw new SecarcError("command_failed", commandError(command, result), { retryable: true });
  return result.stdout;
}
