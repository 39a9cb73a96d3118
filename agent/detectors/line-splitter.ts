/**
 * Cuts a byte stream into lines for the log detectors. Chunks are decoded as
 * latin1 (one char per byte, the cheapest decoding V8 has, and offsets stay
 * byte offsets); a detector turns the few fields it keeps back into UTF-8.
 *
 * A line longer than `maxLineBytes` is cut: its first `maxLineBytes` bytes
 * are handed on, the rest is discarded and counted in `oversized`. A partial
 * last line waits for the next chunk (or `end()`).
 */

/** Receives one line: chars [start, end) of `text`, without the newline or a trailing CR. */
export type LineSink = (text: string, start: number, end: number) => void;

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Hands on a pending partial line (end of a file in a replay). */
  end(): void;
  /** Forgets a pending partial line (the file was rotated or truncated). */
  reset(): void;
  /** Lines longer than the cap, cut. */
  readonly oversized: number;
  /** Bytes discarded from oversized lines. */
  readonly discardedBytes: number;
}

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

export function createLineSplitter(sink: LineSink, maxLineBytes: number = DEFAULT_MAX_LINE_BYTES): LineSplitter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let cut = false;
  let oversized = 0;
  let discardedBytes = 0;

  function emit(text: string, start: number, end: number): void {
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop -= 1;
    sink(text, start, stop);
  }

  function keep(chunk: Buffer, from: number, to: number): void {
    const room = maxLineBytes - pendingBytes;
    const length = to - from;
    if (length > room) {
      if (!cut) oversized += 1;
      cut = true;
      discardedBytes += length - Math.max(room, 0);
      if (room > 0) {
        pending.push(Buffer.from(chunk.subarray(from, from + room)));
        pendingBytes += room;
      }
      return;
    }
    // Copy: the caller may reuse the chunk's memory.
    pending.push(Buffer.from(chunk.subarray(from, to)));
    pendingBytes += length;
  }

  function flushPending(): void {
    const text = Buffer.concat(pending, pendingBytes).toString("latin1", 0, pendingBytes);
    pending = [];
    pendingBytes = 0;
    cut = false;
    emit(text, 0, text.length);
  }

  return {
    get oversized() {
      return oversized;
    },
    get discardedBytes() {
      return discardedBytes;
    },
    push(chunk) {
      if (chunk.length === 0) return;
      const text = chunk.toString("latin1");
      let start = 0;
      let newline = text.indexOf("\n");
      if (newline >= 0 && (pendingBytes > 0 || cut)) {
        keep(chunk, 0, newline);
        flushPending();
        start = newline + 1;
        newline = text.indexOf("\n", start);
      }
      while (newline >= 0) {
        if (newline - start > maxLineBytes) {
          oversized += 1;
          discardedBytes += newline - start - maxLineBytes;
          emit(text, start, start + maxLineBytes);
        } else {
          emit(text, start, newline);
        }
        start = newline + 1;
        newline = text.indexOf("\n", start);
      }
      if (start < text.length) keep(chunk, start, text.length);
    },
    end() {
      if (pendingBytes > 0 || cut) flushPending();
    },
    reset() {
      pending = [];
      pendingBytes = 0;
      cut = false;
    },
  };
}
