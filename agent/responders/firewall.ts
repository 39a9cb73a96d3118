import { BlockList } from "node:net";
import { join } from "node:path";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { FirewallConfig } from "./config.js";
import { createRecordingRunner, formatCommand, type ProgramRunner } from "./program-runner.js";
import type { BlockSpec, FirewallBackend } from "./firewall-backend.js";
import { createIptablesBackend } from "./iptables.js";
import { checkBlockTarget, compileBlockPolicy, normalizeIp, parseCidr, type IpFamily, type IpPolicyOptions, type IpTarget } from "./ip-policy.js";
import { createNftablesBackend } from "./nftables.js";
import { done, dryRunDone, failed, humanDuration, refused } from "./result.js";
import type { ResponderResult } from "./responder.js";
import { describeSession, findSshSessions, groupSessions, type ProcScope } from "./ssh-session-finder.js";
import { readJsonState, writeJsonState } from "./state-file.js";
import { terminateProcesses } from "./terminate.js";

/**
 * Blocking addresses: policy check, kernel set (through a backend), the
 * list of active blocks persisted in the state directory (so they are
 * re-applied when the agent starts: kernel sets do not survive a reboot),
 * and closing the blocked address's open SSH sessions. Operations are
 * serialised; none throws: every result is a ResponderResult.
 */

export interface ActiveBlock {
  /** "198.51.100.7", "2001:db8::7" or "198.51.100.0/24". */
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
  /** Blocks one address for `durationMs` (undefined: the configured default; 0: until unblocked). */
  block(input: string, durationMs?: number): Promise<ResponderResult>;
  /**
   * Blocks many addresses in one transaction (re-applying, bulk imports,
   * benchmarks). Refused inputs are listed, the rest blocked. SSH sessions
   * are not closed by this call.
   */
  blockMany(inputs: readonly string[], durationMs?: number): Promise<{ blocked: number; refused: Array<{ input: string; reason: string }>; error?: string }>;
  unblock(input: string): Promise<ResponderResult>;
  /** Whether this agent's stored blocks hold `input` (an address or network) now; no kernel call. */
  isBlocked(input: string): boolean;
  /** Active blocks as the kernel reports them, with time left. */
  list(): Promise<ActiveBlock[]>;
  /** Re-applies the persisted blocks (remaining time honoured, expired ones dropped); call at agent start. */
  reapply(): Promise<{ restored: number; expired: number; refused: number; error?: string }>;
}

export interface FirewallOptions {
  config: FirewallConfig;
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

interface StoredBlock {
  text: string;
  family: IpFamily;
  blockedAt: number;
  /** ms since epoch; null = until unblocked. */
  expiresAt: number | null;
}

interface BlockFile {
  version: 1;
  blocks: StoredBlock[];
}

export const BLOCKS_FILE = "blocks.json";

function toTarget(text: string): IpTarget | undefined {
  if (text.includes("/")) {
    const net = parseCidr(text);
    return net === undefined ? undefined : { text: `${net.ip}/${net.prefix}`, ip: net.ip, family: net.family, prefix: net.prefix };
  }
  const ip = normalizeIp(text);
  return ip === undefined ? undefined : { text: ip, ip, family: ip.includes(":") ? 6 : 4 };
}

function forWhat(durationMs: number): string {
  return durationMs > 0 ? `for ${humanDuration(durationMs)}` : "until unblocked";
}

export function createFirewall(options: FirewallOptions, deps: FirewallDeps): Firewall {
  const { config } = options;
  const file = join(deps.stateDir, BLOCKS_FILE);
  const policy: IpPolicyOptions = {
    allowlist: config.allowlist,
    allowCidr: config.allowCidr,
    controllerAddresses: deps.controllerAddresses,
    ownAddresses: deps.ownAddresses,
  };
  let backend: FirewallBackend | undefined = deps.backend;
  let ready = false;
  let queue: Promise<unknown> = Promise.resolve();

  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  const makeBackend = (kind: "nftables" | "iptables", runner: ProgramRunner): FirewallBackend =>
    kind === "nftables"
      ? createNftablesBackend({ runner, allowCidr: config.allowCidr })
      : createIptablesBackend({ runner, allowCidr: config.allowCidr });

  async function chooseKind(): Promise<"nftables" | "iptables"> {
    if (config.backend !== "auto") return config.backend;
    const nft = await deps.runner.run({ file: "nft", args: ["--version"], timeoutMs: 5000 });
    if (nft.code === 0) return "nftables";
    return "iptables";
  }

  async function getBackend(): Promise<FirewallBackend> {
    backend ??= makeBackend(await chooseKind(), deps.runner);
    return backend;
  }

  /** Runs `fn` on a ready backend; when it fails, sets the backend up again (someone may have flushed the ruleset) and retries once. */
  async function withBackend(fn: (b: FirewallBackend) => Promise<void>): Promise<void> {
    const b = await getBackend();
    if (!ready) {
      await b.ensure();
      ready = true;
    }
    try {
      await fn(b);
    } catch (err) {
      deps.logger.warn({ err: describeError(err) }, "firewall change failed; setting up the table again and retrying");
      await b.ensure();
      await fn(b);
    }
  }

  /** What the backend would run for `fn`, recorded instead of executed. */
  async function wouldRun(fn: (b: FirewallBackend) => Promise<void>): Promise<string> {
    const recorder = createRecordingRunner();
    const b = makeBackend((await getBackend()).name, recorder);
    // The table setup is left out: it is the same every time and only noise in a result.
    await fn(b);
    return recorder.commands.map(formatCommand).join(" && ");
  }

  // This instance is the file's only writer: read it once, then keep it in memory.
  let stored: StoredBlock[] | undefined;
  const load = (): StoredBlock[] => (stored ??= readJsonState<BlockFile>(file, { version: 1, blocks: [] }).blocks);
  const save = (blocks: StoredBlock[]): void => {
    writeJsonState(file, { version: 1, blocks } satisfies BlockFile);
    stored = blocks;
  };

  function remember(targets: readonly IpTarget[], durationMs: number): void {
    const now = deps.now();
    const texts = new Set(targets.map((t) => t.text));
    const kept = load().filter((b) => !texts.has(b.text) && (b.expiresAt === null || b.expiresAt > now));
    for (const t of targets) {
      kept.push({ text: t.text, family: t.family, blockedAt: now, expiresAt: durationMs > 0 ? now + durationMs : null });
    }
    save(kept);
  }

  function sessionsOf(target: IpTarget) {
    const list = new BlockList();
    const kind = target.family === 4 ? "ipv4" : "ipv6";
    if (target.prefix === undefined) list.addAddress(target.ip, kind);
    else list.addSubnet(target.ip, target.prefix, kind);
    return groupSessions(findSshSessions((c) => (c.remoteIp.includes(":") ? list.check(c.remoteIp, "ipv6") : list.check(c.remoteIp, "ipv4")), deps.procScope));
  }

  async function closeSessions(target: IpTarget): Promise<string> {
    if (!config.closeSessionsOnBlock) return "";
    const sessions = sessionsOf(target);
    if (sessions.length === 0) return "";
    const result = await terminateProcesses(
      sessions.flat().map((p) => ({ pid: p.info.pid, startTicks: p.info.startTicks })),
      { graceMs: options.graceMs },
    );
    const failures = result.failed.length > 0 ? `; could not signal ${result.failed.map((f) => `${f.pid} (${f.reason})`).join(", ")}` : "";
    return `; closed ${sessions.length} SSH session${sessions.length === 1 ? "" : "s"}${failures}`;
  }

  return {
    async backendName() {
      try {
        return (await getBackend()).name;
      } catch {
        return undefined;
      }
    },

    block(input, durationMs) {
      return serial(async () => {
        const checked = checkBlockTarget(input, policy);
        if (!checked.ok) return refused(checked.reason);
        const target = checked.target;
        const duration = durationMs ?? config.defaultBlockDuration;
        const spec: BlockSpec = { target, timeoutMs: duration };
        const expiresAt = duration > 0 ? new Date(deps.now() + duration) : undefined;
        try {
          if (options.dryRun) {
            const commands = await wouldRun((b) => b.block([spec]));
            const sessions = config.closeSessionsOnBlock ? sessionsOf(target) : [];
            const closing = sessions.length > 0 ? ` and send SIGTERM to ${sessions.map(describeSession).join(", ")}` : "";
            return dryRunDone(`block ${target.text} ${forWhat(duration)}: ${commands}${closing}`, expiresAt ? { expiresAt } : {});
          }
          await withBackend((b) => b.block([spec]));
          remember([target], duration);
          const closed = await closeSessions(target);
          deps.logger.info({ ip: target.text, durationMs: duration }, "address blocked");
          return done(`${target.text} blocked ${forWhat(duration)}${closed}`, expiresAt ? { expiresAt } : {});
        } catch (err) {
          return failed(`blocking ${target.text} failed: ${describeError(err)}`);
        }
      });
    },

    blockMany(inputs, durationMs) {
      return serial(async () => {
        const duration = durationMs ?? config.defaultBlockDuration;
        const specs: BlockSpec[] = [];
        const refusedList: Array<{ input: string; reason: string }> = [];
        const seen = new Set<string>();
        const check = compileBlockPolicy(policy);
        for (const input of inputs) {
          const checked = check(input);
          if (!checked.ok) refusedList.push({ input, reason: checked.reason });
          else if (!seen.has(checked.target.text)) {
            seen.add(checked.target.text);
            specs.push({ target: checked.target, timeoutMs: duration });
          }
        }
        if (options.dryRun) return { blocked: 0, refused: refusedList };
        try {
          await withBackend((b) => b.block(specs));
          remember(specs.map((s) => s.target), duration);
          return { blocked: specs.length, refused: refusedList };
        } catch (err) {
          return { blocked: 0, refused: refusedList, error: describeError(err) };
        }
      });
    },

    unblock(input) {
      return serial(async () => {
        const target = input.trim().includes("/") && !config.allowCidr ? undefined : toTarget(input.trim());
        if (target === undefined) return refused(`${JSON.stringify(input.slice(0, 64))} is not an IP address`);
        try {
          if (options.dryRun) return dryRunDone(`unblock ${target.text}: ${await wouldRun((b) => b.unblock([target]))}`);
          await withBackend((b) => b.unblock([target]));
          save(load().filter((b) => b.text !== target.text));
          deps.logger.info({ ip: target.text }, "address unblocked");
          return done(`${target.text} unblocked`);
        } catch (err) {
          return failed(`unblocking ${target.text} failed: ${describeError(err)}`);
        }
      });
    },

    isBlocked(input) {
      const target = toTarget(input.trim());
      if (target === undefined) return false;
      const now = deps.now();
      try {
        return load().some((b) => b.text === target.text && (b.expiresAt === null || b.expiresAt > now));
      } catch {
        return false; // an unreadable blocks file: reapply reports it
      }
    },

    list() {
      return serial(async () => {
        const b = await getBackend();
        if (!ready) {
          await b.ensure();
          ready = true;
        }
        const now = deps.now();
        return (await b.list()).map((k) => {
          const block: ActiveBlock = { ip: k.text, family: k.family };
          if (k.expiresInMs !== undefined) {
            block.timeLeftMs = k.expiresInMs;
            block.expiresAt = new Date(now + k.expiresInMs);
          }
          return block;
        });
      });
    },

    reapply() {
      return serial(async () => {
        const now = deps.now();
        let all: StoredBlock[];
        try {
          all = load();
        } catch (err) {
          return { restored: 0, expired: 0, refused: 0, error: describeError(err) };
        }
        const live = all.filter((b) => b.expiresAt === null || b.expiresAt > now);
        const specs: BlockSpec[] = [];
        const keep: StoredBlock[] = [];
        let refusedCount = 0;
        // Policy may have changed since (allowlist, controller address): check
        // again, with the policy compiled once for all the stored blocks.
        const check = compileBlockPolicy(policy);
        for (const b of live) {
          const checked = check(b.text);
          if (!checked.ok) {
            refusedCount += 1;
            deps.logger.warn({ ip: b.text, reason: checked.reason }, "stored block not re-applied");
            continue;
          }
          specs.push({ target: checked.target, timeoutMs: b.expiresAt === null ? 0 : b.expiresAt - now });
          keep.push(b);
        }
        const expired = all.length - live.length;
        if (options.dryRun) return { restored: 0, expired, refused: refusedCount };
        // Nothing stored: leave the firewall alone until the first block.
        if (all.length === 0) return { restored: 0, expired: 0, refused: 0 };
        try {
          const bk = await getBackend();
          if (bk.restore) {
            // One transaction: setup, sets emptied and refilled.
            try {
              await bk.restore(specs);
            } catch (err) {
              deps.logger.warn({ err: describeError(err) }, "re-applying blocks in one transaction failed; adding them to the current sets");
              await withBackend((b) => b.block(specs));
            }
            ready = true;
          } else await withBackend((b) => b.block(specs));
          if (keep.length !== all.length) save(keep);
          deps.logger.info({ restored: specs.length, expired, refused: refusedCount }, "blocks re-applied");
          return { restored: specs.length, expired, refused: refusedCount };
        } catch (err) {
          return { restored: 0, expired, refused: refusedCount, error: describeError(err) };
        }
      });
    },
  };
}
