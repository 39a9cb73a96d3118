import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { hkdfSync, randomBytes } from "node:crypto";
import { SecarcError } from "../../common/errors.js";

/** Length of the secret in the ticket key file. */
const SECRET_BYTES = 32;
/** Node's ticketKeys: 16 bytes of name, 16 of HMAC key, 16 of AES key. */
const TICKET_KEYS_BYTES = 48;

/**
 * The secret TLS session tickets are derived from (tls.ticketKeyFile):
 * created with 32 random bytes and mode 0600 when missing, refused when
 * group or others may read it or when it holds anything but 32 bytes.
 */
export function loadTicketSecret(path: string): Buffer {
  try {
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, randomBytes(SECRET_BYTES));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new SecarcError("config_invalid", `cannot create the TLS ticket key file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SecarcError("config_invalid", `TLS ticket key file ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}): chmod 600 ${path}`);
  }
  const secret = readFileSync(path);
  if (secret.length !== SECRET_BYTES) {
    throw new SecarcError("config_invalid", `TLS ticket key file ${path} holds ${secret.length} bytes, not ${SECRET_BYTES}: remove it and the controller makes a new one`);
  }
  return secret;
}

/** The ticket keys of one period: the same secret and period give the same keys in every process. */
export function ticketKeysFor(secret: Buffer, period: number): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.from("secarc tls session tickets"), Buffer.from(`period ${period}`), TICKET_KEYS_BYTES));
}

export interface TicketKeyRotationOptions {
  secret: Buffer;
  /** How long one set of keys is used. Default: 12 h. */
  periodMs?: number;
  now: () => number;
  /** Puts keys in force (server.setTicketKeys). Called now and at every period change. */
  apply(keys: Buffer): void;
}

/**
 * TLS session resumption across controller restarts: tickets are sealed
 * with keys derived from a secret on disk and the current period, so a
 * restarted controller (same file) still reads the tickets its agents hold,
 * and keys change every period without anyone handing them out. A ticket
 * from an older period, or older than the TLS session timeout, is simply
 * refused and the agent makes a full handshake. Identity still comes from
 * the certificate the session was made with, and Hello checks it against
 * the current CRL.
 */
export function startTicketKeyRotation(options: TicketKeyRotationOptions): { stop(): void; reapply(): void } {
  const periodMs = options.periodMs ?? 12 * 3_600_000;
  let current = Math.floor(options.now() / periodMs);
  options.apply(ticketKeysFor(options.secret, current));
  const timer = setInterval(() => {
    const period = Math.floor(options.now() / periodMs);
    if (period === current) return;
    current = period;
    options.apply(ticketKeysFor(options.secret, period));
  }, Math.min(periodMs, 60_000));
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    // A new secure context (server.setSecureContext, a CRL swap) comes with random ticket keys of its own.
    reapply: () => options.apply(ticketKeysFor(options.secret, current)),
  };
}
