import { chmodSync, statSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Lets other users pass through every directory above `path` (o+x), as a
 * service user must to reach an installed secarc: a checkout in a private
 * folder (`mktemp -d` is 0700) is not reachable for nobody otherwise.
 * Returns what puts the modes back.
 */
export function letOthersThrough(path: string): () => void {
  const changed: Array<[string, number]> = [];
  for (let dir = path; ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      changed.push([dir, mode]);
    }
    if (dirname(dir) === dir) break;
  }
  return () => {
    for (const [dir, mode] of changed.reverse()) chmodSync(dir, mode);
  };
}
