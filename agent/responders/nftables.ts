import { normalizeIp, type IpFamily, type IpTarget } from "./ip-policy.js";
import { networkSetsOf, runChecked, type BlockSpec, type FirewallBackend, type KernelBlock, type NetworkSets } from "./firewall-backend.js";
import type { ProgramRunner } from "./program-runner.js";

/**
 * The nftables backend: a table of our own, `inet secarc`, with sets
 * `blocked4` (ipv4_addr) and `blocked6` (ipv6_addr) with per-element
 * timeouts, and two chains holding the same rules:
 *
 *   ip saddr @blocked4 drop
 *   ip6 saddr @blocked6 drop
 *
 * - `prerouting`, type filter at hook prerouting priority -110 (dstnat - 10):
 *   every packet that enters the host, before DNAT rewrites its destination.
 *   A container's published port (Docker, Podman: DNAT in prerouting, then
 *   the forward path) is covered as well as the host's own sockets, and a
 *   dropped packet never gets a NAT mapping or a confirmed conntrack entry.
 * - `input`, type filter at hook input priority -10: the host's own sockets,
 *   as before (kept so that a ruleset of an earlier version, and anything
 *   that inspects this chain, stays the same).
 *
 * Families whose blocks may be networks (firewall.allowCidr, or a block
 * prefix shorter than an address) get an interval set too (`blocknet4`,
 * `blocknet6`) with its drop rule in both chains.
 *
 * Every change is one `nft -f -` transaction whose script is built only
 * from validated, canonical addresses and numbers.
 */

export const NFT_TABLE = "secarc";

export interface NftablesBackendOptions {
  runner: ProgramRunner;
  /** Also keep interval sets for networks: true for both families, or per family. Default: false. */
  networkSets?: boolean | NetworkSets;
  /** The nft program. Default: "nft". */
  nft?: string;
}

function setFor(target: IpTarget): string {
  const net = target.prefix !== undefined;
  return `${net ? "blocknet" : "blocked"}${target.family}`;
}

/** The chains that drop blocked sources: before DNAT on every packet entering the host, and on the input path. */
const CHAINS = [
  { name: "prerouting", hook: "type filter hook prerouting priority -110; policy accept;" },
  { name: "input", hook: "type filter hook input priority -10; policy accept;" },
];

/** The sets of the table, with their family. */
export function nftSets(networks: boolean | NetworkSets): Array<[string, IpFamily]> {
  const net = networkSetsOf(networks);
  return [
    ["blocked4", 4],
    ["blocked6", 6],
    ...(net[4] ? ([["blocknet4", 4]] as Array<[string, IpFamily]>) : []),
    ...(net[6] ? ([["blocknet6", 6]] as Array<[string, IpFamily]>) : []),
  ];
}

/** The script that creates the table, sets and chains and (re)writes the chains' rules; idempotent. */
export function nftSetupScript(networks: boolean | NetworkSets): string {
  const sets = nftSets(networks);
  const declared = sets.map(([name, family]) =>
    `  set ${name} { type ipv${family}_addr; flags ${name.startsWith("blocknet") ? "interval, timeout" : "timeout"}; }`,
  );
  const rules = sets.map(([name, family]) => `    ${family === 4 ? "ip" : "ip6"} saddr @${name} drop`);
  return [
    `table inet ${NFT_TABLE} {`,
    ...declared,
    ...CHAINS.map((c) => `  chain ${c.name} { ${c.hook} }`),
    "}",
    // Rewriting the rules in the same transaction keeps exactly one of each.
    ...CHAINS.flatMap((c) => [`flush chain inet ${NFT_TABLE} ${c.name}`, `table inet ${NFT_TABLE} {`, `  chain ${c.name} {`, ...rules, "  }", "}"]),
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
export function nftRestoreScript(specs: readonly BlockSpec[], networks: boolean | NetworkSets): string {
  const groups = groupBySet(specs);
  const lines = [nftSetupScript(networks).trimEnd()];
  for (const [set] of nftSets(networks)) {
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
  const networks = networkSetsOf(options.networkSets);
  const script = (input: string) => runChecked(runner, { file: nft, args: ["-f", "-"], input });
  const sets = nftSets(networks);
  return {
    name: "nftables",
    async ensure() {
      await script(nftSetupScript(networks));
    },
    async block(specs) {
      if (specs.length > 0) await script(nftBlockScript(specs));
    },
    async restore(specs) {
      await script(nftRestoreScript(specs, networks));
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
