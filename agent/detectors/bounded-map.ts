/**
 * A map that keeps at most about `max` entries, forgetting the least
 * recently used first, in O(1) per operation: entries live in two
 * generations; when the current one holds max/2 entries, the previous one
 * is dropped whole and the current one becomes previous. A get from the
 * previous generation moves the entry to the current one. (Evicting one
 * entry at a time through Map's insertion order costs a scan over the
 * deleted slots V8 keeps at the front of the table: quadratic in practice.)
 */
export interface BoundedMap<K, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

/** Values must not be undefined (undefined means absent). */
export function createBoundedMap<K, V extends object | string | number | boolean | bigint | symbol | null>(max: number, onEvict?: (key: K, value: V) => void): BoundedMap<K, V> {
  const half = Math.max(1, Math.floor(max / 2));
  let current = new Map<K, V>();
  let previous = new Map<K, V>();

  function rotate(): void {
    if (onEvict) for (const [k, v] of previous) onEvict(k, v);
    previous = current;
    current = new Map();
  }

  return {
    get(key) {
      const value = current.get(key);
      if (value !== undefined || previous.size === 0) return value;
      const old = previous.get(key);
      if (old === undefined) return undefined;
      previous.delete(key);
      if (current.size >= half) rotate();
      current.set(key, old);
      return old;
    },
    has: (key) => current.has(key) || previous.has(key),
    set(key, value) {
      if (current.has(key)) {
        current.set(key, value);
        return;
      }
      previous.delete(key);
      if (current.size >= half) rotate();
      current.set(key, value);
    },
    delete(key) {
      current.delete(key);
      previous.delete(key);
    },
    get size() {
      return current.size + previous.size;
    },
  };
}
