import { join } from "node:path";
import { blockHolds } from "./block-prefix.js";
import type { IpFamily, IpTarget } from "./ip-policy.js";
import { readJsonState, writeJsonState } from "./state-file.js";

/**
 * The active blocks this agent made, kept in STATE_DIR/blocks.json so that
 * they are re-applied when the agent starts (kernel sets do not survive a
 * reboot). One writer (the firewall): read once, then kept in memory.
 */

export interface StoredBlock {
  /** "198.51.100.7", or a network "2001:db8::/64". */
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

export interface BlockStore {
  /** Every stored block, expired ones included (throws when the file cannot be read). */
  all(): StoredBlock[];
  /** Replaces the stored blocks. */
  save(blocks: StoredBlock[]): void;
  /** Stores `targets` blocked now for `durationMs` (0: until unblocked), dropping expired entries. */
  remember(targets: readonly IpTarget[], durationMs: number): void;
  /** Forgets the blocks whose text is in `texts`. */
  forget(texts: ReadonlySet<string>): void;
  /** The live stored blocks that hold `input`: the address itself, or a network containing it; a network: exactly it. */
  holding(input: string): StoredBlock[];
}

export function createBlockStore(stateDir: string, now: () => number): BlockStore {
  const file = join(stateDir, BLOCKS_FILE);
  let stored: StoredBlock[] | undefined;
  const all = (): StoredBlock[] => (stored ??= readJsonState<BlockFile>(file, { version: 1, blocks: [] }).blocks);
  const save = (blocks: StoredBlock[]): void => {
    writeJsonState(file, { version: 1, blocks } satisfies BlockFile);
    stored = blocks;
  };
  const live = (b: StoredBlock, at: number): boolean => b.expiresAt === null || b.expiresAt > at;
  return {
    all,
    save,
    remember(targets, durationMs) {
      const at = now();
      const texts = new Set(targets.map((t) => t.text));
      const kept = all().filter((b) => !texts.has(b.text) && live(b, at));
      for (const t of targets) kept.push({ text: t.text, family: t.family, blockedAt: at, expiresAt: durationMs > 0 ? at + durationMs : null });
      save(kept);
    },
    forget(texts) {
      save(all().filter((b) => !texts.has(b.text)));
    },
    holding(input) {
      const at = now();
      const text = input.trim();
      return all().filter((b) => live(b, at) && (text.includes("/") ? b.text === text : blockHolds(b.text, text)));
    },
  };
}
