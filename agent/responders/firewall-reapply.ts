import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { BlockStore, StoredBlock } from "./block-store.js";
import type { BlockSpec } from "./firewall-backend.js";
import type { FirewallKernel } from "./firewall-kernel.js";
import type { IpCheck } from "./ip-policy.js";

export interface ReapplyReport {
  restored: number;
  expired: number;
  refused: number;
  error?: string;
}

export interface ReapplyDeps {
  store: BlockStore;
  kernel: FirewallKernel;
  /** The address policy, compiled once for all the stored blocks (it may have changed since: allowlist, controller address). */
  check: (input: string) => IpCheck;
  dryRun: boolean;
  logger: Logger;
  now: () => number;
}

/** The stored blocks still in force that the policy still allows, as backend specs with their time left. */
function liveSpecs(all: readonly StoredBlock[], deps: ReapplyDeps, now: number) {
  const live = all.filter((b) => b.expiresAt === null || b.expiresAt > now);
  const specs: BlockSpec[] = [];
  const keep: StoredBlock[] = [];
  let refused = 0;
  for (const b of live) {
    const checked = deps.check(b.text);
    if (!checked.ok) {
      refused += 1;
      deps.logger.warn({ ip: b.text, reason: checked.reason }, "stored block not re-applied");
      continue;
    }
    specs.push({ target: checked.target, timeoutMs: b.expiresAt === null ? 0 : b.expiresAt - now });
    keep.push(b);
  }
  return { specs, keep, refused, expired: all.length - live.length };
}

/**
 * Re-applies the persisted blocks at agent start (remaining time honoured,
 * expired and no-longer-allowed ones dropped from the file): one transaction
 * where the backend has `restore`, else added to the current sets.
 */
export async function reapplyBlocks(deps: ReapplyDeps): Promise<ReapplyReport> {
  const now = deps.now();
  let all: StoredBlock[];
  try {
    all = deps.store.all();
  } catch (err) {
    return { restored: 0, expired: 0, refused: 0, error: describeError(err) };
  }
  const { specs, keep, refused, expired } = liveSpecs(all, deps, now);
  if (deps.dryRun) return { restored: 0, expired, refused };
  // Nothing stored: leave the firewall alone until the first block.
  if (all.length === 0) return { restored: 0, expired: 0, refused: 0 };
  try {
    const backend = await deps.kernel.backend();
    if (backend.restore) {
      // One transaction: setup, sets emptied and refilled.
      try {
        await backend.restore(specs);
      } catch (err) {
        deps.logger.warn({ err: describeError(err) }, "re-applying blocks in one transaction failed; adding them to the current sets");
        await deps.kernel.change((b) => b.block(specs));
      }
      deps.kernel.markReady();
    } else await deps.kernel.change((b) => b.block(specs));
    if (keep.length !== all.length) deps.store.save(keep);
    deps.logger.info({ restored: specs.length, expired, refused }, "blocks re-applied");
    return { restored: specs.length, expired, refused };
  } catch (err) {
    return { restored: 0, expired, refused, error: describeError(err) };
  }
}
