import { z } from "zod";
import { durationMs } from "../../common/config.js";
import { isValidAllowlistEntry } from "./ip-policy.js";

/**
 * The `responders` section of the agent config. Every key has a default, so
 * an empty section gives nftables blocks of 24h, a reboot delay of 1 minute
 * and real (not dry-run) execution. Unknown keys are errors.
 */

export const firewallConfigSchema = z
  .strictObject({
    /**
     * "nftables" (table `inet secarc`, sets with timeouts), "iptables"
     * (iptables/ip6tables with ipset `hash:ip timeout`), or "auto": nftables
     * when `nft` runs, else iptables. Default: "auto".
     */
    backend: z.enum(["auto", "nftables", "iptables"]).default("auto"),
    /** How long a block lasts when the action gives no duration; "0" = until unblocked. Default: 24h. */
    defaultBlockDuration: durationMs().default(86_400_000),
    /** Addresses and networks (CIDR) never blocked, besides loopback, the controller's and this host's addresses. Default: []. */
    allowlist: z
      .array(z.string().refine(isValidAllowlistEntry, "expected an IP address or a network in CIDR notation"))
      .default([]),
    /** Whether a block may name a network (CIDR) rather than one address. Default: false. */
    allowCidr: z.boolean().default(false),
    /** Whether blocking an address also closes its open SSH sessions. Default: true. */
    closeSessionsOnBlock: z.boolean().default(true),
  })
  .prefault({});

export const powerConfigSchema = z
  .strictObject({
    /** Wait before rebooting or shutting down when the action gives no delay; "0" = at once. Default: 1m. */
    delay: durationMs().default(60_000),
    /**
     * "systemctl" (`systemctl reboot|poweroff`, through `systemd-run
     * --on-active` when delayed), "shutdown" (`shutdown -r|-h +MINUTES`), or
     * "auto": systemctl when systemd runs (/run/systemd/system), else
     * shutdown. Default: "auto".
     */
    method: z.enum(["auto", "systemctl", "shutdown"]).default("auto"),
  })
  .prefault({});

export const sessionsConfigSchema = z
  .strictObject({
    /** How long a process has to end after SIGTERM before SIGKILL (sessions and killed processes). Default: 2000 (ms). */
    graceMs: z.number().int().min(0).max(60_000).default(2000),
  })
  .prefault({});

export const decisionsConfigSchema = z
  .strictObject({
    /** How long an ALLOW that names no duration keeps the address allowed (alerts muted, blocks refused); "0" = only unblock, keep no entry. Default: 24h. */
    defaultAllowDuration: durationMs().default(86_400_000),
  })
  .prefault({});

export const respondersConfigSchema = z
  .strictObject({
    /** Report what every responder would run (the argument vectors) without running anything. Default: false. */
    dryRun: z.boolean().default(false),
    /** Blocking addresses. */
    firewall: firewallConfigSchema,
    /** Reboot and shut down. */
    power: powerConfigSchema,
    /** Closing SSH sessions and killing processes. */
    sessions: sessionsConfigSchema,
    /** ALLOW and IGNORE: time-boxed decisions that mute re-alerts. */
    decisions: decisionsConfigSchema,
  })
  .prefault({});

/**
 * The `block` section of the agent config: how much a BLOCK_IP of one
 * address covers. An IPv6 attacker holds a whole /64 and rotates inside it,
 * so blocking the one address does nothing; the block covers the network of
 * this length around it. Never-block rules (loopback, the controller's and
 * this host's addresses, firewall.allowlist, addresses allowed by ALLOW)
 * hold for the whole network: one inside it narrows the block until it is
 * left out (docs/operations.md, "Prefix blocks").
 */
export const blockConfigSchema = z
  .strictObject({
    /** Prefix length a block of an IPv6 address covers, 32–128; 128 = the address alone. Default: 64. */
    ipv6Prefix: z.number().int().min(32).max(128).default(64),
    /** Prefix length a block of an IPv4 address covers, 16–32; 32 = the address alone. Default: 32. */
    ipv4Prefix: z.number().int().min(16).max(32).default(32),
  })
  .prefault({});

export type BlockConfig = z.output<typeof blockConfigSchema>;
export type RespondersConfig = z.output<typeof respondersConfigSchema>;
export type RespondersConfigInput = z.input<typeof respondersConfigSchema>;
export type FirewallConfig = z.output<typeof firewallConfigSchema>;
export type PowerConfig = z.output<typeof powerConfigSchema>;
