import { normalizeIp, type IpFamily, type IpTarget } from "./ip-policy.js";
import { runChecked, type BlockSpec, type FirewallBackend, type KernelBlock } from "./firewall-backend.js";
import type { ProgramRunner } from "./program-runner.js";

/**
 * The nftables backend: a table of our own, `inet secarc`, with sets
 * `blocked4` (ipv4_addr) and `blocked6` (ipv6_addr) with per-element
 * timeouts, and a chain `input` at hook input priority -10 (before the usual
 * filter chains), policy accept, holding two rules:
 *
 *   ip saddr @blocked4 drop
 *   ip6 saddr @blocked6 drop
 *
 * When networks may be blocked, two more sets with interval flags
 * (`blocknet4`, `blocknet6`) and their drop rules are added.
 *
 * Every change is one `nft -f -` transaction whose script is built only
 * from validated, canonical addresses and numbers.
 */

export const NFT_TABLE = "secarc";

export interface NftablesBackendOptions {
  runner: ProgramRunner;
  /** Also keep interval sets for networks. Default: false. */
  allowCidr?: boolean;
  /** The nft program. Default: "nft". */
  nft?: string;
}

function setFor(target: IpTarget): string {
  const net = target.prefix !== undefined;
  return `${net ? "blocknet" : "blocked"}${target.family}`;
}

/** The script that creates the table, sets and chain and (re)writes the chain's rules; idempotent. */
export function nftSetupScript(allowCidr: boolean): string {
  const sets = [
    "  set blocked4 { type ipv4_addr; flags timeout; }",
    "  set blocked6 { type ipv6_addr; flags timeout; }",
    ...(allowCidr
      ? ["  set blocknet4 { type ipv4_addr; flags interval, timeout; }", "  set blocknet6 { type ipv6_addr; flags interval, timeout; }"]
      : []),
  ];
  const rules = [
    "    ip saddr @blocked4 drop",
    "    ip6 saddr @blocked6 drop",
    ...(allowCidr ? ["    ip saddr @blocknet4 drop", "    ip6 saddr @blocknet6 drop"] : []),
  ];
  return [
    `table inet ${NFT_TABLE} {`,
    ...sets,
    "  chain input { type filter hook input priority -10; policy accept; }",
    "}",
    // Rewriting the rules in the same transaction keeps exactly one of each.
    `flush chain inet ${NFT_TABLE} input`,
    `table inet ${NFT_TABLE} {`,
    "  chain input {",
    ...rules,
    "  }",
    "}",
    "",
  ].join("\n");
}

function groupBySet<T extends { target: IpTarget }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = setFor(item.target);
    const list = groups.get(name) ?? [];
    list.push(item);
    groups.set(name, list);
  }
  return groups;
}

/**
 * The script that blocks `specs`: add each element (a no-op when present),
 * delete it, add it again with its timeout — so blocking again refreshes
 * the timeout and never duplicates. One transaction for all.
 */
export function nftBlockScript(specs: readonly BlockSpec[]): string {
  const lines: string[] = [];
  for (const [set, items] of groupBySet(specs)) {
    const plain = items.map((s) => s.target.text).join(", ");
    const timed = items.map((s) => (s.timeoutMs > 0 ? `${s.target.text} timeout ${Math.ceil(s.timeoutMs)}ms` : s.target.text)).join(", ");
    lines.push(`add element inet ${NFT_TABLE} ${set} { ${plain} }`);
    lines.push(`delete element inet ${NFT_TABLE} ${set} { ${plain} }`);
    lines.push(`add element inet ${NFT_TABLE} ${set} { ${timed} }`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The script that re-applies the stored blocks at agent start, as ONE
 * transaction: the table setup, then each set emptied and refilled with one
 * `add element` statement holding all its elements with their timeouts.
 * Emptying first makes the set exactly the stored blocks (nothing stale
 * stays, nothing is added twice) with no per-element delete; the kernel
 * applies the whole transaction or none of it, so a restart never leaves a
 * moment without the blocks.
 */
export function nftRestoreScript(specs: readonly BlockSpec[], allowCidr: boolean): string {
  const groups = groupBySet(specs);
  const sets = ["blocked4", "blocked6", ...(allowCidr ? ["blocknet4", "blocknet6"] : [])];
  const lines = [nftSetupScript(allowCidr).trimEnd()];
  for (const set of sets) {
    lines.push(`flush set inet ${NFT_TABLE} ${set}`);
    const items = groups.get(set);
    if (!items || items.length === 0) continue;
    const elements = items.map((s) => (s.timeoutMs > 0 ? `${s.target.text} timeout ${Math.ceil(s.timeoutMs)}ms` : s.target.text));
    lines.push(`add element inet ${NFT_TABLE} ${set} { ${elements.join(", ")} }`);
  }
  return `${lines.join("\n")}\n`;
}

/** The script that unblocks `targets`; absent ones are added first so the delete never fails. */
export function nftUnblockScript(targets: readonly IpTarget[]): string {
  const lines: string[] = [];
  for (const [set, items] of groupBySet(targets.map((target) => ({ target })))) {
    const plain = items.map((s) => s.target.text).join(", ");
    lines.push(`add element inet ${NFT_TABLE} ${set} { ${plain} }`);
    lines.push(`delete element inet ${NFT_TABLE} ${set} { ${plain} }`);
  }
  return `${lines.join("\n")}\n`;
}

interface NftJsonElem {
  elem?: { val?: unknown; timeout?: number; expires?: number };
}

function elementText(val: unknown): string | undefined {
  if (typeof val === "string") return normalizeIp(val);
  if (val !== null && typeof val === "object" && "prefix" in val) {
    const prefix = (val as { prefix: { addr?: unknown; len?: unknown } }).prefix;
    const addr = typeof prefix.addr === "string" ? normalizeIp(prefix.addr) : undefined;
    return addr === undefined ? undefined : `${addr}/${Number(prefix.len)}`;
  }
  return undefined;
}

/** Parses `nft -j list set ...` output into blocks. */
export function parseNftSetJson(text: string, family: IpFamily): KernelBlock[] {
  const doc = JSON.parse(text) as { nftables?: Array<{ set?: { elem?: Array<string | NftJsonElem | Record<string, unknown>> } }> };
  const out: KernelBlock[] = [];
  for (const item of doc.nftables ?? []) {
    for (const elem of item.set?.elem ?? []) {
      if (typeof elem === "string") {
        const ip = elementText(elem);
        if (ip !== undefined) out.push({ text: ip, family });
        continue;
      }
      const inner = (elem as NftJsonElem).elem;
      const text = elementText(inner?.val ?? (elem as Record<string, unknown>));
      if (text === undefined) continue;
      const block: KernelBlock = { text, family };
      if (inner?.timeout !== undefined && inner.expires !== undefined) block.expiresInMs = inner.expires * 1000;
      out.push(block);
    }
  }
  return out;
}

export function createNftablesBackend(options: NftablesBackendOptions): FirewallBackend {
  const { runner } = options;
  const nft = options.nft ?? "nft";
  const allowCidr = options.allowCidr ?? false;
  const script = (input: string) => runChecked(runner, { file: nft, args: ["-f", "-"], input });
  const sets: Array<[string, IpFamily]> = [
    ["blocked4", 4],
    ["blocked6", 6],
    ...(allowCidr ? ([["blocknet4", 4], ["blocknet6", 6]] as Array<[string, IpFamily]>) : []),
  ];
  return {
    name: "nftables",
    async ensure() {
      await script(nftSetupScript(allowCidr));
    },
    async block(specs) {
      if (specs.length > 0) await script(nftBlockScript(specs));
    },
    async restore(specs) {
      await script(nftRestoreScript(specs, allowCidr));
    },
    async unblock(targets) {
      if (targets.length > 0) await script(nftUnblockScript(targets));
    },
    async list() {
      const out: KernelBlock[] = [];
      for (const [set, family] of sets) {
        const text = await runChecked(runner, { file: nft, args: ["-j", "list", "set", "inet", NFT_TABLE, set] });
        out.push(...parseNftSetJson(text, family));
      }
      return out;
    },
    async remove() {
      const listed = await runner.run({ file: nft, args: ["list", "table", "inet", NFT_TABLE] });
      if (listed.code === 0) await runChecked(runner, { file: nft, args: ["delete", "table", "inet", NFT_TABLE] });
    },
  };
}
