import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { blockName, narrowNote, protectedNetworks, widenToPrefix, type BlockPrefixes, type KeptAddress } from "./block-prefix.js";
import { closeSessionsFrom, sessionsFrom } from "./block-sessions.js";
import { createBlockStore } from "./block-store.js";
import type { FirewallConfig } from "./config.js";
import type { BlockSpec, FirewallBackend, NetworkSets } from "./firewall-backend.js";
import { createFirewallKernel } from "./firewall-kernel.js";
import { reapplyBlocks, type ReapplyReport } from "./firewall-reapply.js";
import { compileBlockPolicy, normalizeIp, parseCidr, type IpCheck, type IpFamily, type IpPolicyOptions, type IpTarget } from "./ip-policy.js";
import type { ProgramRunner } from "./program-runner.js";
import { done, dryRunDone, failed, humanDuration, refused } from "./result.js";
import type { ResponderResult } from "./responder.js";
import { describeSession, type ProcScope } from "./ssh-session-finder.js";

export { BLOCKS_FILE } from "./block-store.js";

/**
 * Blocking addresses: policy check, the block's prefix (block.ipv6Prefix /
 * ipv4Prefix, narrowed around never-block networks), the kernel set
 * (through a backend), the list of active blocks persisted in the state
 * directory (re-applied when the agent starts), and closing the blocked
 * sources' open SSH sessions. Operations are serialised; none throws: every
 * result is a ResponderResult.
 */

export interface ActiveBlock {
  /** "198.51.100.7", "2001:db8::7" or a network "2001:db8:1:2::/64". */
  ip: string;
  family: IpFamily;
  /** When the block ends; undefined = until unblocked. */
  expiresAt?: Date;
  /** Time left in ms, from the kernel; undefined = until unblocked. */
  timeLeftMs?: number;
}

export interface Firewall {
  /** The backend in use, once chosen ("auto" decides at first use). */
  backendName(): Promise<"nftables" | "iptables" | undefined>;
  /**
   * Blocks an address — the network of the configured prefix around it — or
   * a network, for `durationMs` (undefined: the configured default; 0: until
   * unblocked). `kept`: addresses the block must leave out besides the
   * policy's (those allowed by ALLOW).
   */
  block(input: string, durationMs?: number, kept?: readonly KeptAddress[]): Promise<ResponderResult>;
  /**
   * Blocks many addresses in one transaction (re-applying, bulk imports,
   * benchmarks), each as given (no prefix). Refused inputs are listed, the
   * rest blocked. SSH sessions are not closed by this call.
   */
  blockMany(inputs: readonly string[], durationMs?: number): Promise<{ blocked: number; refused: Array<{ input: string; reason: string }>; error?: string }>;
  /** Lifts the blocks that hold `input`: the address's own, or the network (prefix) block containing it. */
  unblock(input: string): Promise<ResponderResult>;
  /** Whether this agent's stored blocks hold `input` (an address, or a network exactly) now; no kernel call. */
  isBlocked(input: string): boolean;
  /** Active blocks as the kernel reports them, with time left. */
  list(): Promise<ActiveBlock[]>;
  /** Re-applies the persisted blocks (remaining time honoured, expired ones dropped); call at agent start. */
  reapply(): Promise<ReapplyReport>;
}

export interface FirewallOptions {
  config: FirewallConfig;
  /** How much a block of one address covers. Default: IPv4 /32, IPv6 /64. */
  prefixes?: BlockPrefixes;
  /** Only report what would run. */
  dryRun: boolean;
  /** SIGTERM → SIGKILL grace for closing sessions. */
  graceMs: number;
}

export interface FirewallDeps {
  runner: ProgramRunner;
  logger: Logger;
  now: () => number;
  stateDir: string;
  controllerAddresses: readonly string[];
  ownAddresses: () => readonly string[];
  /** Which processes' SSH sessions may be closed (default: the agent's network namespace). */
  procScope?: ProcScope;
  /** A ready backend (tests); by default chosen from config.backend. */
  backend?: FirewallBackend;
}

export const DEFAULT_BLOCK_PREFIXES: BlockPrefixes = { ipv4Prefix: 32, ipv6Prefix: 64 };

function forWhat(durationMs: number): string {
  return durationMs > 0 ? `for ${humanDuration(durationMs)}` : "until unblocked";
}

/** Which families keep network sets: all when networks may be blocked, else those whose block prefix is shorter than an address. */
export function networkSetsFor(config: Pick<FirewallConfig, "allowCidr">, prefixes: BlockPrefixes): NetworkSets {
  return { 4: config.allowCidr || prefixes.ipv4Prefix < 32, 6: config.allowCidr || prefixes.ipv6Prefix < 128 };
}

/** The canonical text of an address or network to unblock, or undefined. */
function unblockText(input: string): string | undefined {
  const text = input.trim();
  if (!text.includes("/")) return normalizeIp(text);
  const net = parseCidr(text);
  return net === undefined ? undefined : net.prefix === (net.family === 4 ? 32 : 128) ? net.ip : `${net.ip}/${net.prefix}`;
}

export function createFirewall(options: FirewallOptions, deps: FirewallDeps): Firewall {
  const { config } = options;
  const prefixes = options.prefixes ?? DEFAULT_BLOCK_PREFIXES;
  const policy: IpPolicyOptions = { allowlist: config.allowlist, allowCidr: config.allowCidr, controllerAddresses: deps.controllerAddresses, ownAddresses: deps.ownAddresses };
  const kernel = createFirewallKernel({ config, networkSets: networkSetsFor(config, prefixes), runner: deps.runner, logger: deps.logger, ...(deps.backend ? { backend: deps.backend } : {}) });
  const store = createBlockStore(deps.stateDir, deps.now);
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const ops = { options, deps, prefixes, policy, kernel, store };
  return {
    async backendName() {
      try {
        return (await kernel.backend()).name;
      } catch {
        return undefined;
      }
    },
    block: (input, durationMs, kept = []) => serial(() => blockOne(ops, input, durationMs ?? config.defaultBlockDuration, kept)),
    blockMany: (inputs, durationMs) => serial(() => blockAll(ops, inputs, durationMs ?? config.defaultBlockDuration)),
    unblock: (input) => serial(() => unblockOne(ops, input)),
    isBlocked(input) {
      const text = unblockText(input);
      try {
        return text !== undefined && store.holding(text).length > 0;
      } catch {
        return false; // an unreadable blocks file: reapply reports it
      }
    },
    list: () => serial(() => listBlocks(ops)),
    reapply: () => serial(() => reapplyBlocks({ store, kernel, check: storedBlockPolicy(policy, prefixes), dryRun: options.dryRun, logger: deps.logger, now: deps.now })),
  };
}

type Ops = {
  options: FirewallOptions;
  deps: FirewallDeps;
  prefixes: BlockPrefixes;
  policy: IpPolicyOptions;
  kernel: ReturnType<typeof createFirewallKernel>;
  store: ReturnType<typeof createBlockStore>;
};

/**
 * The policy for stored blocks at re-apply: an address, a network when
 * networks may be blocked, or a network no wider than the block prefix of
 * its family (a prefix block), each checked whole against the never-block
 * rules as they are now.
 */
function storedBlockPolicy(policy: IpPolicyOptions, prefixes: BlockPrefixes): (input: string) => IpCheck {
  const strict = compileBlockPolicy(policy);
  const networks = compileBlockPolicy({ ...policy, allowCidr: true });
  return (input) => {
    const net = input.includes("/") ? parseCidr(input) : undefined;
    if (net === undefined || policy.allowCidr) return strict(input);
    return net.prefix >= (net.family === 4 ? prefixes.ipv4Prefix : prefixes.ipv6Prefix) ? networks(input) : strict(input);
  };
}

async function blockOne(ops: Ops, input: string, duration: number, kept: readonly KeptAddress[]): Promise<ResponderResult> {
  const { options, deps, kernel, store } = ops;
  const checked = compileBlockPolicy(ops.policy)(input);
  if (!checked.ok) return refused(checked.reason);
  const widened = widenToPrefix(checked.target, ops.prefixes, protectedNetworks(ops.policy, kept));
  const target = widened.target;
  const spec: BlockSpec = { target, timeoutMs: duration };
  const extra = { networks: [target.text], ...(duration > 0 ? { expiresAt: new Date(deps.now() + duration) } : {}) };
  const name = blockName(widened, input);
  try {
    if (options.dryRun) {
      const commands = await kernel.wouldRun((b) => b.block([spec]));
      const sessions = options.config.closeSessionsOnBlock ? sessionsFrom(target, deps.procScope) : [];
      const closing = sessions.length > 0 ? ` and send SIGTERM to ${sessions.map(describeSession).join(", ")}` : "";
      return dryRunDone(`block ${name} ${forWhat(duration)}${narrowNote(widened)}: ${commands}${closing}`, extra);
    }
    await kernel.change((b) => b.block([spec]));
    store.remember([target], duration);
    const closed = options.config.closeSessionsOnBlock ? await closeSessionsFrom(target, options.graceMs, deps.procScope) : "";
    deps.logger.info({ ip: target.text, input: input.trim(), durationMs: duration, narrowed: widened.narrowed }, "address blocked");
    return done(`${name} blocked ${forWhat(duration)}${narrowNote(widened)}${closed}`, extra);
  } catch (err) {
    return failed(`blocking ${target.text} failed: ${describeError(err)}`);
  }
}

async function blockAll(ops: Ops, inputs: readonly string[], duration: number) {
  const specs: BlockSpec[] = [];
  const refusedList: Array<{ input: string; reason: string }> = [];
  const seen = new Set<string>();
  const check = compileBlockPolicy(ops.policy);
  for (const input of inputs) {
    const checked = check(input);
    if (!checked.ok) refusedList.push({ input, reason: checked.reason });
    else if (!seen.has(checked.target.text)) {
      seen.add(checked.target.text);
      specs.push({ target: checked.target, timeoutMs: duration });
    }
  }
  if (ops.options.dryRun) return { blocked: 0, refused: refusedList };
  try {
    await ops.kernel.change((b) => b.block(specs));
    ops.store.remember(specs.map((s) => s.target), duration);
    return { blocked: specs.length, refused: refusedList };
  } catch (err) {
    return { blocked: 0, refused: refusedList, error: describeError(err) };
  }
}

/** The kernel targets of stored blocks that hold `text`; none stored: `text` itself (a block from before a restart of the file). */
function unblockTargets(ops: Ops, text: string): IpTarget[] {
  const toTarget = (t: string): IpTarget => {
    const net = t.includes("/") ? parseCidr(t) : undefined;
    if (net) return { text: t, ip: net.ip, family: net.family, prefix: net.prefix };
    return { text: t, ip: t, family: t.includes(":") ? 6 : 4 };
  };
  const held = ops.store.holding(text).map((b) => b.text);
  return (held.length > 0 ? held : [text]).map(toTarget);
}

async function unblockOne(ops: Ops, input: string): Promise<ResponderResult> {
  const text = unblockText(input);
  if (text === undefined) return refused(`${JSON.stringify(input.slice(0, 64))} is not an IP address or network`);
  let targets: IpTarget[];
  try {
    targets = unblockTargets(ops, text);
  } catch (err) {
    return failed(`unblocking ${text} failed: reading the stored blocks: ${describeError(err)}`);
  }
  const names = targets.map((t) => t.text).join(", ");
  const extra = { networks: targets.map((t) => t.text) };
  try {
    if (ops.options.dryRun) return dryRunDone(`unblock ${names}: ${await ops.kernel.wouldRun((b) => b.unblock(targets))}`, extra);
    await ops.kernel.change((b) => b.unblock(targets));
    ops.store.forget(new Set(targets.map((t) => t.text)));
    ops.deps.logger.info({ ip: names, input: input.trim() }, "address unblocked");
    return done(`${names} unblocked`, extra);
  } catch (err) {
    return failed(`unblocking ${names} failed: ${describeError(err)}`);
  }
}

async function listBlocks(ops: Ops): Promise<ActiveBlock[]> {
  const b = await ops.kernel.ready();
  const now = ops.deps.now();
  return (await b.list()).map((k) => {
    const block: ActiveBlock = { ip: k.text, family: k.family };
    if (k.expiresInMs !== undefined) {
      block.timeLeftMs = k.expiresInMs;
      block.expiresAt = new Date(now + k.expiresInMs);
    }
    return block;
  });
}
