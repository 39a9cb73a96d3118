import { normalizeIp, type IpFamily, type IpTarget } from "./ip-policy.js";
import { networkSetsOf, runChecked, type BlockSpec, type FirewallBackend, type KernelBlock, type NetworkSets } from "./firewall-backend.js";
import type { ProgramRunner } from "./program-runner.js";

/**
 * The iptables backend, for hosts without nftables: ipsets `secarc-blocked4`
 * and `secarc-blocked6` (`hash:ip` with timeouts; `hash:net` sets
 * `secarc-blocknet4/6` too when networks may be blocked) and, in iptables
 * and ip6tables, a chain `SECARC` holding one rule per set
 * (`-m set --match-set SET src -j DROP`), jumped to first from INPUT and,
 * when Docker's DOCKER-USER chain exists, first from DOCKER-USER too: a
 * container's published port is reached through DNAT and the FORWARD path,
 * where Docker sends traffic through DOCKER-USER before its own rules (the
 * source address is unchanged by DNAT, so the sets match there). DOCKER-USER
 * is looked for each time the table is set up (at start, and again after a
 * failed change), so a Docker started later is covered from then on.
 *
 * ipset counts timeouts in whole seconds, at most 2147483 (about 24.8
 * days); a longer block is capped at that (and re-applied at agent start).
 */

export const IPSET_MAX_TIMEOUT_S = 2_147_483;
export const IPT_CHAIN = "SECARC";
/** Docker's chain for user rules, evaluated first in FORWARD for container traffic. */
export const DOCKER_USER_CHAIN = "DOCKER-USER";

export interface IptablesBackendOptions {
  runner: ProgramRunner;
  /** Also keep hash:net sets for networks: true for both families, or per family. Default: false. */
  networkSets?: boolean | NetworkSets;
}

function setName(target: { family: IpFamily; prefix?: number }): string {
  return `secarc-${target.prefix !== undefined ? "blocknet" : "blocked"}${target.family}`;
}

/** The `ipset restore -exist` text that blocks `specs` (an existing entry gets the new timeout). */
export function ipsetBlockScript(specs: readonly BlockSpec[]): string {
  return specs
    .map((s) => {
      const seconds = s.timeoutMs > 0 ? Math.min(IPSET_MAX_TIMEOUT_S, Math.max(1, Math.ceil(s.timeoutMs / 1000))) : 0;
      return `add ${setName(s.target)} ${s.target.text} timeout ${seconds}\n`;
    })
    .join("");
}

/** Parses `ipset save SET` output ("add SET 1.2.3.4 timeout 49"; timeout 0 = until removed). */
export function parseIpsetSave(text: string, family: IpFamily): KernelBlock[] {
  const out: KernelBlock[] = [];
  for (const line of text.split("\n")) {
    const match = /^add \S+ (\S+)(?: timeout (\d+))?/.exec(line.trim());
    if (!match) continue;
    const [addr, prefix] = (match[1] ?? "").split("/");
    const ip = normalizeIp(addr ?? "");
    if (ip === undefined) continue;
    const block: KernelBlock = { text: prefix === undefined ? ip : `${ip}/${prefix}`, family };
    const seconds = Number(match[2] ?? 0);
    if (seconds > 0) block.expiresInMs = seconds * 1000;
    out.push(block);
  }
  return out;
}

export function createIptablesBackend(options: IptablesBackendOptions): FirewallBackend {
  const { runner } = options;
  const networks = networkSetsOf(options.networkSets);
  const families: Array<{ family: IpFamily; bin: string; inet: string }> = [
    { family: 4, bin: "iptables", inet: "inet" },
    { family: 6, bin: "ip6tables", inet: "inet6" },
  ];
  const setsOf = (family: IpFamily) => [
    { name: setName({ family }), type: "hash:ip" },
    ...(networks[family] ? [{ name: setName({ family, prefix: 0 }), type: "hash:net" }] : []),
  ];
  return {
    name: "iptables",
    async ensure() {
      for (const { family, bin, inet } of families) {
        for (const set of setsOf(family)) {
          await runChecked(runner, {
            file: "ipset",
            args: ["create", set.name, set.type, "family", inet, "timeout", "0", "maxelem", "1048576", "-exist"],
          });
        }
        // Declaring the chain with --noflush creates it or empties it; the rules follow in the same commit.
        const rules = setsOf(family).map((set) => `-A ${IPT_CHAIN} -m set --match-set ${set.name} src -j DROP`);
        await runChecked(runner, {
          file: `${bin}-restore`,
          args: ["-w", "--noflush"],
          input: ["*filter", `:${IPT_CHAIN} - [0:0]`, ...rules, "COMMIT", ""].join("\n"),
        });
        for (const from of await jumpChains(runner, bin)) {
          const jump = await runner.run({ file: bin, args: ["-w", "-C", from, "-j", IPT_CHAIN] });
          if (jump.code !== 0) await runChecked(runner, { file: bin, args: ["-w", "-I", from, "1", "-j", IPT_CHAIN] });
        }
      }
    },
    async block(specs) {
      if (specs.length === 0) return;
      await runChecked(runner, { file: "ipset", args: ["restore", "-exist"], input: ipsetBlockScript(specs) });
    },
    async unblock(targets) {
      if (targets.length === 0) return;
      const text = targets.map((t) => `del ${setName(t)} ${t.text}\n`).join("");
      await runChecked(runner, { file: "ipset", args: ["restore", "-exist"], input: text });
    },
    async list() {
      const out: KernelBlock[] = [];
      for (const { family } of families) {
        for (const set of setsOf(family)) {
          out.push(...parseIpsetSave(await runChecked(runner, { file: "ipset", args: ["save", set.name] }), family));
        }
      }
      return out;
    },
    async remove() {
      for (const { family, bin } of families) {
        for (const from of await jumpChains(runner, bin)) {
          const jump = await runner.run({ file: bin, args: ["-w", "-C", from, "-j", IPT_CHAIN] });
          if (jump.code === 0) await runChecked(runner, { file: bin, args: ["-w", "-D", from, "-j", IPT_CHAIN] });
        }
        await runner.run({ file: bin, args: ["-w", "-F", IPT_CHAIN] });
        await runner.run({ file: bin, args: ["-w", "-X", IPT_CHAIN] });
        for (const set of setsOf(family)) await runner.run({ file: "ipset", args: ["destroy", set.name] });
      }
    },
  };
}

/** The chains that jump to SECARC: INPUT, and DOCKER-USER where Docker made it. */
async function jumpChains(runner: ProgramRunner, bin: string): Promise<string[]> {
  const docker = await runner.run({ file: bin, args: ["-w", "-S", DOCKER_USER_CHAIN] });
  return docker.code === 0 ? ["INPUT", DOCKER_USER_CHAIN] : ["INPUT"];
}
