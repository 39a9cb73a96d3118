import { readFileSync } from "node:fs";

const BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";

/**
 * The id Linux gives the current boot; it changes on every boot, which lets
 * the journal tell "the agent restarted" from "the host rebooted". Where the
 * file is missing, a fixed value (then every restart looks like the same boot).
 */
export function readBootId(file: string = BOOT_ID_FILE): string {
  try {
    return readFileSync(file, "utf8").trim() || "unknown";
  } catch {
    return "unknown";
  }
}
