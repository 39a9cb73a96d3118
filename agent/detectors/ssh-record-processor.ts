import { isIP } from "node:net";
import type { LineProcessor, LineProcessorDeps, LineStats } from "./line-processor.js";
import { createBoundedMap, type BoundedMap } from "./bounded-map.js";
import { newLineStats } from "./line-processor.js";
import { latin1ToUtf8 } from "./nginx-log-parser.js";

const NON_ASCII = /[\x80-\xff]/;
import { parseSshLogLine, type SshRecord } from "./ssh-log-parser.js";
import { parseSshMessage, type SshEvent, type SshPeer } from "./ssh-messages.js";

/**
 * A processor of sshd log records, fed either with raw lines (auth log,
 * replay) or with records (journald). Shared by the SSH detectors. It
 * decides which address a message is about, by the rule "the address is
 * sshd's, always":
 *
 * - a record whose framing is sshd's own (a syslog line with escaped
 *   control characters, a journald entry sent through syslog) is about the
 *   connection its sshd PID serves: the address from that PID's
 *   "Connection from" line or first addressed message. A message with no
 *   address (PAM, "Disconnecting: Too many authentication failures") takes
 *   it; a message whose address positions are ambiguous (attacker text on
 *   both sides) is kept only when one of them is the PID's;
 * - an `unverified` record (a line that may have been forged inside a user
 *   name: `sshd -E` files, raw-newline syslog files, journald entries from
 *   sshd's stderr) counts only when /proc shows an sshd holding a
 *   connection from the address and port it names (`evidence`), or, with no
 *   address, when its PID is an sshd whose socket peer gives one.
 *
 * Without `evidence` (replay of a past file, where /proc says nothing about
 * the connections of then) unverified records are read like the others.
 */
export interface SshRecordProcessor extends LineProcessor {
  /** One record that already has its message split from the prefix (journald). */
  record(record: SshRecord): void;
  readonly sshStats: SshStats;
}

/** Records left out, and why. */
export interface SshStats {
  /** Unverified records naming a connection no sshd serves (forged, or a connection already gone). */
  unverified: number;
  /** Messages whose address could not be told from attacker text (several candidates, none the PID's). */
  ambiguous: number;
  /** Messages with no address of their own and no known connection for their PID. */
  unattributed: number;
}

/** What /proc says about sshd's connections. */
export interface SshdEvidence {
  /** Whether an sshd process holds (or held, recently) a TCP connection whose peer is ip:port. */
  holds(ip: string, port: number): boolean;
  /** The peer of the connection sshd process `pid` holds, if it is an sshd with one. */
  peerOf(pid: number): SshPeer | undefined;
  /** Time passed: remember connections seen now. */
  sample(now: number): void;
}

export interface SshProcessorDeps extends LineProcessorDeps {
  /**
   * Take event times from the lines (replay) instead of the clock (live,
   * where the clock is at least as precise and has the year). Default: false.
   */
  timeFromLines?: boolean;
  /** The file may hold raw newlines inside messages (see SshLineOptions). Default: false. */
  rawNewlines?: boolean;
  /** /proc evidence for unverified records. Default: none (replay). */
  evidence?: SshdEvidence;
}

/** The connection an event is about. */
export interface SshConnection {
  /** sshd's address of the client: an IP, or a host name sshd resolved (never resolved here). */
  host: string;
  port?: number;
  /** Identifies the connection: "pid N" when the PID is known, else "host port". */
  key: string;
}

export interface SshEventHandler {
  /** Handles one parsed event at time `at` (ms); `connection` is undefined only for session-closed. */
  event(event: SshEvent, at: number, pid: number | undefined, connection: SshConnection | undefined): void;
  tick(now: number): void;
  finish(): void;
}

/** Most PIDs whose connection is remembered. */
const MAX_PIDS = 20_000;
/** Address-less messages kept per PID until its address is known (fail2ban's "retarded" match). */
const MAX_PENDING_PER_PID = 4;
const MAX_PENDING_PIDS = 2_000;

interface Pending {
  event: SshEvent;
  at: number;
}

export function isIpHost(host: string): boolean {
  return isIP(host) !== 0;
}

function samePeer(a: SshPeer, b: SshPeer): boolean {
  return a.host === b.host && (a.port === undefined || b.port === undefined || a.port === b.port);
}

export function createSshRecordProcessor(deps: SshProcessorDeps, handler: SshEventHandler, stats: LineStats = newLineStats()): SshRecordProcessor {
  let lastTime: number | undefined;
  const sshStats: SshStats = { unverified: 0, ambiguous: 0, unattributed: 0 };
  const book: PeerBook = {
    deps,
    sshStats,
    byPid: createBoundedMap<number, SshPeer>(MAX_PIDS),
    pending: createBoundedMap<number, Pending[]>(MAX_PENDING_PIDS, (_pid, left) => {
      sshStats.unattributed += left.length;
    }),
  };
  const lineOptions = { rawNewlines: deps.rawNewlines ?? false };

  function record(rec: SshRecord): void {
    const event = parseSshMessage(rec.message);
    if (event === null) return;
    if (event === undefined) {
      stats.malformed += 1;
      return;
    }
    let at: number;
    if (deps.timeFromLines) {
      at = rec.time ?? lastTime ?? deps.now();
      lastTime = at;
    } else {
      at = deps.now();
    }
    if (event.type === "session-closed") {
      handler.event(event, at, rec.pid, undefined);
      return;
    }
    const p = peerOfRecord(book, rec, event, at);
    if (p === undefined) return;
    const key = rec.pid !== undefined && !rec.unverified ? `pid ${rec.pid}` : `${p.host} ${p.port ?? ""}`;
    const connection: SshConnection = { host: p.host, key };
    if (p.port !== undefined) connection.port = p.port;
    if (rec.pid !== undefined && !rec.unverified && book.pending.size > 0) {
      const waiting = book.pending.get(rec.pid);
      book.pending.delete(rec.pid);
      for (const w of waiting ?? []) handler.event(w.event, w.at, rec.pid, connection);
    }
    if (event.type === "connection") return;
    handler.event(event, at, rec.pid, connection);
    const ends = event.type === "ended" || event.type === "disconnected" || (event.type === "failure" && event.ends);
    if (ends && rec.pid !== undefined) book.byPid.delete(rec.pid);
  }

  return {
    stats,
    sshStats,
    record(rec) {
      stats.lines += 1;
      record(rec);
    },
    line(text, start, end) {
      stats.lines += 1;
      // A slice of the chunk: transient; what is kept (hosts, users) is copied where it is kept.
      const slice = text.slice(start, end);
      const line = NON_ASCII.test(slice) ? latin1ToUtf8(slice) : slice;
      const rec = parseSshLogLine(line, lastTime ?? deps.now(), lineOptions);
      if (rec !== undefined) record(rec);
    },
    tick(now) {
      deps.evidence?.sample(now);
      handler.tick(now);
    },
    finish: () => handler.finish(),
  };
}

/** Which connection each sshd PID serves, and the address-less messages waiting for theirs. */
interface PeerBook {
  deps: SshProcessorDeps;
  sshStats: SshStats;
  byPid: BoundedMap<number, SshPeer>;
  pending: BoundedMap<number, Pending[]>;
}

type SshMessageEvent = Exclude<SshEvent, { type: "session-closed" }>;

/** The connection a record is about; undefined when it is not known (yet): counted as unverified, ambiguous or waiting. */
function peerOfRecord(book: PeerBook, rec: SshRecord, event: SshMessageEvent, at: number): SshPeer | undefined {
  const { sshStats } = book;
  if (rec.unverified) {
    const p = verified(book, event.peers, rec.pid);
    if (p === undefined) sshStats.unverified += 1;
    return p;
  }
  const p = attributed(book, event.peers, rec.pid);
  if (p === "ambiguous") {
    sshStats.ambiguous += 1;
    return undefined;
  }
  if (p === undefined) {
    if (rec.pid !== undefined) wait(book, rec.pid, { event, at });
    else sshStats.unattributed += 1;
  }
  return p;
}

/** Keeps an address-less message of `pid` until a later line of it names the connection. */
function wait(book: PeerBook, pid: number, item: Pending): void {
  const list = book.pending.get(pid) ?? [];
  if (list.length >= MAX_PENDING_PER_PID) {
    book.sshStats.unattributed += 1;
    return;
  }
  list.push(item);
  book.pending.set(pid, list);
}

/** The peer of an unverified record, from /proc only. */
function verified(book: PeerBook, peers: SshPeer[], pid: number | undefined): SshPeer | undefined {
  const evidence = book.deps.evidence;
  if (evidence === undefined) return peers.length === 1 ? peers[0] : undefined;
  if (peers.length === 0) return pid === undefined ? undefined : evidence.peerOf(pid);
  const held = peers.filter((p) => p.port !== undefined && isIpHost(p.host) && evidence.holds(p.host, p.port));
  return held.length === 1 ? held[0] : undefined;
}

/** The peer of a record framed by sshd itself, with its PID's connection. */
function attributed(book: PeerBook, peers: SshPeer[], pid: number | undefined): SshPeer | undefined | "ambiguous" {
  const known = pid === undefined ? undefined : book.byPid.get(pid);
  if (known !== undefined) {
    // A host name (PAM's rhost, "User ... from NAME") is the known connection's.
    if (peers.length === 0 || peers.some((p) => samePeer(p, known)) || peers.every((p) => !isIpHost(p.host) && isIpHost(known.host))) {
      if (known.port === undefined && peers.length === 1 && peers[0]!.port !== undefined && peers[0]!.host === known.host) {
        book.byPid.set(pid!, peers[0]!);
        return peers[0];
      }
      return known;
    }
  }
  if (peers.length === 0) return undefined;
  if (peers.length > 1) return "ambiguous";
  // A new connection on this PID (or a reused PID).
  if (pid !== undefined) book.byPid.set(pid, peers[0]!);
  return peers[0];
}
