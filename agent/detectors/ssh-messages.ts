import { candidates, MAX_MESSAGE, one, peer, type FailureLevel, type SshEvent, type SshFamily, type SshPeer } from "./ssh-peers.js";

export { MAX_MESSAGE, validHost, type FailureLevel, type SshEvent, type SshFamily, type SshPeer } from "./ssh-peers.js";

/**
 * sshd's messages, by family (OpenSSH 6.x–10.x: auth.c, auth2.c,
 * auth-pam.c, sshd.c/sshd-session.c, kex.c; Debian's pam_unix), with the
 * rule that finds sshd's own address in each. User names, `ruser`, client
 * version strings, disconnect reasons and key comments are attacker-chosen
 * text, and they can stand before and after sshd's fields. So each family
 * is matched on its fixed structure:
 *
 * - prefix-anchored families ("Received disconnect from H port P:...",
 *   "Unable to negotiate with H port P: ...", "Connection from H port P on
 *   ...") take the address at the fixed start: attacker text only follows;
 * - suffix-anchored families ("Failed password for U from H port P ssh2",
 *   "Invalid user U from H port P", "... user U H port P [preauth]", "PAM:
 *   ... for U from H") take the address at the fixed end: attacker text
 *   only precedes (the user part is matched greedily);
 * - families with attacker text on both sides ("Failed publickey/hostbased
 *   ... ssh2: <info>", "Change of username ...: (U,s) -> (V,s)") list every
 *   position where sshd's fields fit; the caller keeps the one that is the
 *   connection's address (known from the same sshd PID) and refuses the
 *   message when several differ and none is known.
 *
 * A host is an IP address, or a host name when sshd resolves names (no
 * `UseDNS no`): names are reported, never resolved.
 */


// "Failed|Accepted <method> for [invalid user ]<user> from <ip>[ port <n>][ ssh2][: <info>]": the user
// precedes sshd's fields, and some methods add info after them ("ssh2: RSA SHA256:...", hostbased's
// client user/host, old sshd's "ruser"). Every place where sshd's fields fit — followed by the end or
// by ": " — is a candidate; a plain key's info ("ED25519 SHA256:<base64>") is fixed, so it anchors.
const AUTH_HEAD = /^(Failed|Accepted) (\S+) for (invalid user )?/;
const AUTH_PEERS = / from (\S+?)(?: port (\d+))?(?: ssh\d?)?(?=: |$)/gs;
const WITH_KEY = / from (\S+) port (\d+) ssh2: [A-Z0-9-]+ (?:SHA256:[A-Za-z0-9+/$]+|[0-9a-f]{2}(?::[0-9a-f]{2}){15})$/s;
const INVALID_USER = /^(?:Invalid|Illegal) user (.*) from (\S+)(?: port (\d+))?$/s;
const NOT_ALLOWED = /^User (.*) from (\S+) not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|a group is listed in DenyGroups|none of user's groups are listed in AllowGroups)$/s;
const NOT_ALLOWED_LOCAL = /^User (.*) not allowed because (?:account is locked|shell \S+ does not exist|shell \S+ is not executable)$/s;
const ROOT_REFUSED = /^ROOT LOGIN REFUSED FROM (\S+?)(?: port (\d+))?$/;
const PAM_FAILURE = /^PAM: (?:[Aa]uthentication failure|User not known to the underlying authentication module|[Aa]uthentication error|Permission denied) for (?:illegal user )?(.*) from (\S+)(?: via \S+)?$/s;
// pam_unix: fields before rhost are non-space (logname= uid= euid= tty= ruser=), user= follows it.
const PAM_UNIX = /^pam_[a-z]+\(sshd:auth\): authentication failure; logname=\S* uid=\d+ euid=\d+ tty=\S* ruser=\S* rhost=(\S+)(?:\s+user=(.*?))?(?: \[preauth\])?$/s;
const MAX_ATTEMPTS = /^maximum authentication attempts exceeded for (?:invalid user )?(.*) from (\S+) port (\d+) ssh2 \[preauth\]$/s;
const TOO_MANY_USER = /^Disconnecting (?:authenticating|invalid) user (.*) (\S+) port (\d+): Too many authentication failures(?: for .*)? \[preauth\]$/s;
const TOO_MANY_BARE = /^Disconnecting: Too many authentication failures(?: for (.*))?(?: \[preauth\])?$/s;
const CHANGE_OF_USER = /^Disconnecting (?:authenticating|invalid) user (.*?) \S+ port \d+: Change of username or service not allowed: /s;
const CHANGE_OF_USER_PEERS = / (\S+) port (\d+)(?=: Change of username or service not allowed: )/g;
const PREAUTH_CLOSED = /^(?:Connection closed by|Connection reset by|Disconnected from) (?:authenticating|invalid) user (.*) (\S+) port (\d+) \[preauth\]$/s;
const PREAUTH_DROPPED = /^(?:Connection closed by|Connection reset by|Disconnected from) (\S+?)(?: port (\d+))?( \[preauth\])?$/;
const DISCONNECTED = /^Disconnected from user (.*) (\S+) port (\d+)$/s;
// Prefix-anchored: attacker text (the client's reason, offer, version) only after sshd's fields.
const RECEIVED_DISCONNECT = /^Received disconnect from (\S+?)(?: port (\d+))?: ?(\d+): (.*)$/s;
const CONNECTION_FROM = /^Connection from (\S+) port (\d+) on \S+ port \d+/;
const NEGOTIATION = /^Unable to negotiate with (\S+) port (\d+): no matching /;
const NO_IDENTIFICATION = /^Did not receive identification string from (\S+)(?: port (\d+))?$/;
const BANNER_EXCHANGE = /^banner exchange: Connection from (\S+) port (\d+): /;
const TIMEOUT = /^Timeout before authentication for (?:connection from )?(\S+?)(?: port (\d+))?(?: to \S+, pid = \d+)?$/;
const BAD_PROTOCOL = /^Bad protocol version identification '.*' from (\S+)(?: port (\d+))?$/s;
const KEX_IDENTIFICATION = /^kex_exchange_identification: (?:read: )?(?:client sent invalid protocol identifier|Connection closed by remote host|Connection reset by peer|banner line contains invalid characters)/;
const DISPATCH_FATAL = /^ssh_dispatch_run_fatal: Connection from (\S+) port (\d+): /;
// Address-less pre-authentication noise: the PID's address.
const NOISE_BARE = /^(?:Read from socket failed: Connection reset by peer|Unable to negotiate a \S+(?: \S+){0,3}|no matching [\w ]{1,40} found: )/;
const SESSION_CLOSED = /^pam_unix\(sshd:session\): session closed for user (.+)$/s;

/** "error: ", "fatal: " prefixes sshd adds by log level, and Solaris' "[ID 800047 auth.info] ". */
function stripLevel(message: string): string {
  let out = message.endsWith(" ") ? message.trimEnd() : message;
  if (out.startsWith("[ID ")) out = out.replace(/^\[ID \d+ [a-z0-9]+\.[a-z]+\] /, "");
  if (out.startsWith("error: ") || out.startsWith("fatal: ")) out = out.slice(7);
  return out;
}

function failure(family: SshFamily, level: FailureLevel, user: string, peers: SshPeer[] | undefined, ends = false): SshEvent | undefined {
  return peers && { type: "failure", family, level, user, peers, ends };
}

/** "Failed ..." and "Accepted ...": the candidates of sshd's fields, and the user before the first. */
function parseAuth(message: string): SshEvent | undefined {
  const head = AUTH_HEAD.exec(message);
  if (!head) return undefined;
  const method = head[2]!;
  let peers: SshPeer[];
  let userEnd: number;
  const key = method === "publickey" ? WITH_KEY.exec(message) : null;
  if (key) {
    const p = peer(key[1], key[2]);
    if (!p) return undefined;
    peers = [p];
    userEnd = key.index;
  } else {
    peers = [];
    userEnd = -1;
    for (const m of message.slice(head[0].length - 1).matchAll(AUTH_PEERS)) {
      const p = peer(m[1], m[2]);
      if (!p) continue;
      if (userEnd < 0) userEnd = head[0].length - 1 + m.index;
      if (!peers.some((q) => q.host === p.host && q.port === p.port)) peers.push(p);
    }
    if (peers.length === 0) return undefined;
    // sshd has written the port since OpenSSH 3.x: a portless candidate is text, unless none has one.
    if (peers.some((p) => p.port !== undefined)) peers = peers.filter((p) => p.port !== undefined);
  }
  const user = message.slice(head[0].length, Math.max(head[0].length, userEnd));
  if (head[1] === "Accepted") return { type: "accepted", method, user, peers };
  return failure(method === "publickey" ? "failed-publickey" : "failed", "normal", user, peers);
}

function parseDisconnecting(message: string): SshEvent | null | undefined {
  let m = TOO_MANY_USER.exec(message);
  if (m) return failure("too-many", "normal", m[1]!, one(peer(m[2], m[3])), true);
  m = TOO_MANY_BARE.exec(message);
  if (m) return failure("too-many", "normal", m[1] ?? "", [], true);
  m = CHANGE_OF_USER.exec(message);
  if (m) {
    const peers = candidates(message, CHANGE_OF_USER_PEERS);
    return peers.length > 0 ? failure("change-of-user", "normal", m[1]!, peers, true) : undefined;
  }
  return null;
}

function parseClosed(message: string): SshEvent | null | undefined {
  let m = PREAUTH_CLOSED.exec(message);
  if (m) return failure("preauth-closed", "normal", m[1]!, one(peer(m[2], m[3])), true);
  m = PREAUTH_DROPPED.exec(message);
  if (m) {
    const peers = one(peer(m[1], m[2]));
    // Without [preauth]: after a login, or an old sshd; an end that names the address.
    if (m[3] === undefined) return peers && { type: "ended", peers };
    return failure("preauth-dropped", "aggressive", "", peers, true);
  }
  m = DISCONNECTED.exec(message);
  if (m) {
    const peers = one(peer(m[2], m[3]));
    return peers && { type: "disconnected", user: m[1]!, peers };
  }
  return null;
}

function parseReceivedDisconnect(message: string): SshEvent | undefined {
  const m = RECEIVED_DISCONNECT.exec(message);
  if (!m) return undefined;
  const peers = one(peer(m[1], m[2]));
  const preauth = m[4]!.endsWith(" [preauth]");
  // 3 = SSH2_DISCONNECT_KEY_EXCHANGE_FAILED ... "Auth fail" (old sshd); 14 = no more auth methods.
  if (m[3] === "3" && / Auth fail(?: \[preauth\])?$/.test(m[4]!)) return failure("auth-fail-disconnect", "normal", "", peers, true);
  if (m[3] === "14") return failure("no-auth-methods", "aggressive", "", peers, true);
  return peers && (preauth ? { type: "ended", peers } : { type: "disconnected", user: "", peers });
}

/** The prefix-anchored pre-authentication noise of aggressive mode. */
function parseNoise(message: string): SshEvent | null | undefined {
  let m = NEGOTIATION.exec(message);
  if (m) return failure("negotiation", "aggressive", "", one(peer(m[1], m[2])), true);
  m = NO_IDENTIFICATION.exec(message);
  if (m) return failure("no-identification", "aggressive", "", one(peer(m[1], m[2])), true);
  m = BANNER_EXCHANGE.exec(message);
  if (m) return failure("bad-banner", "aggressive", "", one(peer(m[1], m[2])), true);
  m = BAD_PROTOCOL.exec(message);
  if (m) return failure("bad-banner", "aggressive", "", one(peer(m[1], m[2])), true);
  m = TIMEOUT.exec(message);
  if (m) return failure("preauth-timeout", "aggressive", "", one(peer(m[1], m[2])), true);
  m = DISPATCH_FATAL.exec(message);
  if (m) return failure("bad-banner", "aggressive", "", one(peer(m[1], m[2])), true);
  if (KEX_IDENTIFICATION.test(message)) return failure("kex-identification", "aggressive", "", [], true);
  if (NOISE_BARE.test(message)) return failure("negotiation", "aggressive", "", [], true);
  return null;
}

/**
 * The event a message reports, null for messages of no interest, or
 * undefined for a message of a known family that does not parse (e.g. an
 * address that is neither an IP nor a host name): callers count it as
 * malformed.
 */
export function parseSshMessage(raw: string): SshEvent | null | undefined {
  if (raw.length > MAX_MESSAGE) return null;
  const message = stripLevel(raw.endsWith("\r") ? raw.slice(0, -1) : raw);
  let m: RegExpExecArray | null;
  switch (message.charCodeAt(0)) {
    case 70: // F
      return message.startsWith("Failed ") ? parseAuth(message) : null;
    case 65: // A
      return message.startsWith("Accepted ") ? parseAuth(message) : null;
    case 73: // I
      if (!message.startsWith("Invalid user ") && !message.startsWith("Illegal user ")) return null;
      m = INVALID_USER.exec(message);
      return m ? failure("invalid-user", "normal", m[1]!, one(peer(m[2], m[3]))) : undefined;
    case 85: // U
      if ((m = NOT_ALLOWED.exec(message))) return failure("not-allowed", "normal", m[1]!, one(peer(m[2], undefined, true)));
      if ((m = NOT_ALLOWED_LOCAL.exec(message))) return failure("not-allowed", "normal", m[1]!, []);
      return message.startsWith("Unable to negotiate ") ? (parseNoise(message) ?? undefined) : null;
    case 82: // R
      if (message.startsWith("ROOT LOGIN REFUSED FROM ")) {
        m = ROOT_REFUSED.exec(message);
        return m ? failure("root-refused", "normal", "root", one(peer(m[1], m[2]))) : undefined;
      }
      if (message.startsWith("Received disconnect from ")) return parseReceivedDisconnect(message);
      return message.startsWith("Read from socket failed: ") ? parseNoise(message) : null;
    case 80: // P
      if (!message.startsWith("PAM: ")) return null;
      m = PAM_FAILURE.exec(message);
      return m ? failure("pam-failure", "normal", m[1]!, one(peer(m[2], undefined, true))) : null;
    case 112: // p
      if ((m = SESSION_CLOSED.exec(message))) return { type: "session-closed", user: m[1]! };
      if (!/^pam_[a-z]+\(sshd:auth\): authentication failure;/.test(message)) return null;
      m = PAM_UNIX.exec(message);
      return m ? failure("pam-unix", "normal", m[2] ?? "", one(peer(m[1], undefined, true))) : undefined;
    case 109: // m
      if (!message.startsWith("maximum authentication attempts exceeded ")) return null;
      m = MAX_ATTEMPTS.exec(message);
      return m ? failure("too-many", "normal", m[1]!, one(peer(m[2], m[3])), true) : undefined;
    case 68: // D
      if (message.startsWith("Disconnecting")) return parseDisconnecting(message);
      if (message.startsWith("Disconnected from ")) return parseClosed(message);
      return message.startsWith("Did not receive identification string ") ? parseNoise(message) : null;
    case 67: // C
      if (message.startsWith("Connection from ")) {
        m = CONNECTION_FROM.exec(message);
        const peers = m ? one(peer(m[1], m[2])) : undefined;
        return peers ? { type: "connection", peers } : undefined;
      }
      if (message.startsWith("Connection closed by ") || message.startsWith("Connection reset by ")) return parseClosed(message);
      return null;
    case 98: // b
    case 66: // B
    case 84: // T
    case 107: // k
    case 115: // s
    case 110: // n
      return parseNoise(message);
    default:
      return null;
  }
}
