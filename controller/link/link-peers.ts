import type { Http2SecureServer } from "node:http2";
import type { TLSSocket } from "node:tls";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { certificateIdentity } from "../../common/tls.js";
import type { PeerInfo } from "./agent-stream.js";
import { normalizeSerial } from "./revocation-list.js";

/** OpenSSL verification codes of refused client certificates, in words. */
const VERIFY_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "client certificate has expired",
  CERT_NOT_YET_VALID: "client certificate is not valid yet",
  CERT_REVOKED: "client certificate is revoked (listed in the CRL)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "client certificate is not signed by the SecARC CA",
  UNABLE_TO_GET_ISSUER_CERT: "client certificate is not signed by the SecARC CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "client certificate is not signed by the SecARC CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: "client certificate is self-signed, not signed by the SecARC CA",
  SELF_SIGNED_CERT_IN_CHAIN: "client certificate chains to another CA",
  CERT_SIGNATURE_FAILURE: "client certificate signature is invalid",
  UNABLE_TO_GET_CRL: "no CRL for the client certificate's CA",
};

/** The TCP socket a server-side TLS socket wraps (Node keeps it as `_parent`; gone once destroyed). */
function tcpSocketOf(socket: TLSSocket): { bytesRead?: number } | null | undefined {
  return (socket as unknown as { _parent?: { bytesRead?: number } | null })._parent;
}

export interface LinkPeers {
  /** The agent behind a connection: its certificate's identity and serial (read once per connection) and its address. */
  peerOf(socket: TLSSocket): PeerInfo;
  /** "address:port" of a connection, also for a peer that hung up during the handshake. */
  remoteOf(socket: TLSSocket): string;
}

/**
 * Who is at the other end of the link server's connections: each
 * connection's peer, read from its handshake once, and its address, kept
 * from the TCP connection so that a refused handshake can still be named.
 * Refused handshakes are logged with the reason in words.
 */
export function followPeers(server: Http2SecureServer, log: Logger): LinkPeers {
  const peers = new WeakMap<object, Omit<PeerInfo, "remote">>();
  // A peer that hangs up during the handshake leaves a TLS socket without its
  // address: it is remembered from the TCP connection the TLS socket wraps.
  const tcpRemotes = new WeakMap<object, string>();
  server.on("connection", (socket: { remoteAddress?: string; remotePort?: number }) => {
    if (socket.remoteAddress) tcpRemotes.set(socket, `${socket.remoteAddress}:${socket.remotePort ?? 0}`);
  });
  const remoteOf = (socket: TLSSocket): string => {
    if (socket.remoteAddress) return `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
    const parent = tcpSocketOf(socket);
    return (parent && tcpRemotes.get(parent)) ?? tcpRemotes.get(socket) ?? "unknown";
  };
  server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
    // With TLS 1.3 the error itself is often just "socket hang up"; the
    // verification result on the socket says why the certificate was refused.
    const verification = socket.authorizationError ? String(socket.authorizationError) : undefined;
    // A peer that closed before sending a byte made no handshake to refuse: a TCP port
    // check (a load balancer's, a monitor's) or a dial its agent abandoned (tls-resumption.ts).
    const parent = tcpSocketOf(socket);
    if (!verification && (parent?.bytesRead ?? socket.bytesRead) === 0) {
      log.debug({ remote: remoteOf(socket), code: err.code }, "connection closed before its TLS handshake began");
      return;
    }
    const reason = verification ? (VERIFY_REASONS[verification] ?? `client certificate refused: ${verification}`) : describeError(err);
    log.warn({ remote: remoteOf(socket), reason, code: verification ?? err.code }, `TLS handshake refused: ${reason}`);
  });

  return {
    remoteOf,
    peerOf(socket) {
      const remote = remoteOf(socket);
      let known = peers.get(socket);
      if (!known) {
        try {
          // The handshake's own parsed certificate, not a copy: getPeerCertificate()
          // and parsing its DER again cost about 1 ms of CPU per connection
          // (OpenSSL 3's decoders), most of a connect storm's time here.
          const certificate = socket.authorized ? socket.getPeerX509Certificate() : undefined;
          known = certificate ? { identity: certificateIdentity(certificate), certificate, serial: normalizeSerial(certificate.serialNumber) } : { identity: undefined };
        } catch {
          known = { identity: undefined };
        }
        peers.set(socket, known);
      }
      return { ...known, remote };
    },
  };
}
