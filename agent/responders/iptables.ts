import { normalizeIp, type IpFamily, type IpTarget } from "./ip-policy.js";
import { runChecked, type BlockSpec, type FirewallBackend, type KernelBlock } from "./firewall-backend.js";
import type { ProgramRunner } from "./program-runner.js";

/**
 * The iptables backend, for hosts without nftables: ipsets `secarc-blocked4`
 * and `secarc-blocked6` (`hash:ip` with timeouts; `hash:net` sets
 * `secarc-blocknet4/6` too when networks may be blocked) and, in iptables
 * and ip6tables, a chain `SECARC` jumped to first from INPUT, holding one
 * rule per set: `-m set --match-set SET src -j DROP`.
 *
 * ipset counts timeouts in whole seconds, at most 2147483 (about 24.8
 * days); a longer block is capped at that (and re-applied at agent start).
 */

export const IPSET_MAX_TIMEOUT_S = 2_147_483;
export const IPT_CHAIN = "SECARC";

export interface IptablesBackendOptions {
  runner: ProgramRunner;
  /** Also keep hash:net sets for networks. Default: false. */
  allowCidr?: boolean;
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
  const allowCidr = options.allowCidr ?? false;
  const families: Array<{ family: IpFamily; bin: string; inet: string }> = [
    { family: 4, bin: "iptables", inet: "inet" },
    { family: 6, bin: "ip6tables", inet: "inet6" },
  ];
  const setsOf = (family: IpFamily) => [
    { name: setName({ family }), type: "hash:ip" },
    ...(allowCidr ? [{ name: setName({ family, prefix: 0 }), type: "hash:net" }] : []),
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
        const jump = await runner.run({ file: bin, args: ["-w", "-C", "INPUT", "-j", IPT_CHAIN] });
        if (jump.code !== 0) await runChecked(runner, { file: bin, args: ["-w", "-I", "INPUT", "1", "-j", IPT_CHAIN] });
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
        const jump = await runner.run({ file: bin, args: ["-w", "-C", "INPUT", "-j", IPT_CHAIN] });
        if (jump.code === 0) await runChecked(runner, { file: bin, args: ["-w", "-D", "INPUT", "-j", IPT_CHAIN] });
        await runner.run({ file: bin, args: ["-w", "-F", IPT_CHAIN] });
        await runner.run({ file: bin, args: ["-w", "-X", IPT_CHAIN] });
        for (const set of setsOf(family)) await runner.run({ file: "ipset", args: ["destroy", set.name] });
      }
    },
  };
}
