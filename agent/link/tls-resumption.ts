import * as grpc from "@grpc/grpc-js";
import { isIP, type Socket } from "node:net";
import { connect, createSecureContext, type SecureContext } from "node:tls";
import type { TlsMaterial } from "../../common/tls.js";

/**
 * Channel credentials that resume the agent's last TLS session with a
 * controller endpoint. grpc-js's own (`credentials.createSsl`) never offer a
 * session, so after a controller restart every agent made a full handshake
 * (the controller verifies each client certificate chain again; the
 * figures are in docs/performance.md). These do the handshake
 * grpc-js would do (`tls.connect` over the socket grpc-js opened, ALPN h2,
 * the certificate verified against the CA and the endpoint's name) and
 * offer the newest session ticket the endpoint gave. A controller that
 * cannot use it (restarted without `tls.ticketKeyFile`, ticket too old)
 * makes a full handshake; nothing else changes. A resumed session carries the
 * certificates of its first handshake, and the controller still checks every
 * Hello against its CRL.
 *
 * One instance per endpoint and TLS material: a renewed certificate comes
 * with a new dialer, so a ticket of the old certificate is never offered.
 */
export class ResumingCredentials extends grpc.ChannelCredentials {
  private session: Buffer | undefined;
  private readonly counts = { handshakes: 0, resumed: 0, abandoned: 0 };

  /**
   * @param host the endpoint's host, as in its "host:port" (IPv6 without brackets)
   * @param serverName the name its certificate must carry, when not `host`
   */
  constructor(
    private readonly context: SecureContext,
    private readonly host: string,
    private readonly serverName: string | undefined,
  ) {
    super();
  }

  /** Handshakes completed with this endpoint, how many of them resumed a session, and dials of closed channels stopped. */
  stats(): { handshakes: number; resumed: number; abandoned: number } {
    return { ...this.counts };
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  /**
   * One connector per grpc-js subchannel; grpc-js destroys it when the
   * subchannel's last user lets go (the link closed the session's client).
   * A subchannel that was in backoff then still dials once its timer fires
   * (grpc-js 1.14 only idles a connecting or ready one), and that connection,
   * with no call on it, would hold a TLS session and an opening slot on the
   * controller until the controller closes it: after a controller outage,
   * one or two such connections per agent. So a destroyed connector is
   * never ready (grpc-js asks before it opens the TCP connection) and
   * refuses a socket it is given anyway.
   */
  override _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: grpc.CallCredentials): grpc.experimental.SecureConnector {
    const call = callCredentials ?? grpc.CallCredentials.createEmpty();
    let destroyed = false;
    const abandon = (): Promise<never> => {
      this.counts.abandoned += 1;
      return Promise.reject(new Error("the link closed this channel"));
    };
    return {
      connect: (socket) => {
        if (!destroyed) return this.handshake(socket);
        socket.destroy();
        return abandon();
      },
      waitForReady: () => (destroyed ? abandon() : Promise.resolve()),
      getCallCredentials: () => call,
      destroy: () => {
        destroyed = true;
      },
    };
  }

  private handshake(socket: Socket): Promise<grpc.experimental.SecureConnectResult> {
    // As grpc-js: the certificate is checked against the override, or the host; no SNI for an IP address (RFC 6066).
    const name = this.serverName ?? this.host;
    return new Promise((resolve, reject) => {
      let done = false;
      let failed = false;
      const tlsSocket = connect(
        {
          socket,
          secureContext: this.context,
          host: name,
          ...(isIP(name) === 0 ? { servername: name } : {}),
          ALPNProtocols: ["h2"],
          rejectUnauthorized: true,
          ...(this.session ? { session: this.session } : {}),
        },
        () => {
          done = true;
          if (!tlsSocket.authorized) {
            failed = true;
            this.session = undefined;
            reject(tlsSocket.authorizationError);
            return;
          }
          this.counts.handshakes += 1;
          if (tlsSocket.isSessionReused()) this.counts.resumed += 1;
          resolve({ socket: tlsSocket, secure: true });
        },
      );
      // TLS 1.3 tickets arrive after the handshake, some of them later still: keep the newest
      // (a handshake whose verification fails forgets it below).
      tlsSocket.on("session", (session: Buffer) => {
        if (!failed) this.session = session;
      });
      tlsSocket.on("error", (err: Error & { code?: string }) => {
        if (done) return;
        // The controller's certificate was refused: the next handshake starts afresh. A connection
        // closed or reset meanwhile (a controller turning a herd away before TLS) keeps the ticket.
        if (tlsSocket.authorizationError || err.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
          failed = true;
          this.session = undefined;
        }
        reject(err);
      });
    });
  }
}

/** The credentials of every endpoint of one dialer: one secure context, one session per endpoint. */
export interface EndpointCredentials {
  /** The credentials for "host:port" (the same instance for every call with it). */
  for(address: string): ResumingCredentials;
  /** Handshakes, resumed ones and dials of closed channels stopped, over every endpoint dialed. */
  stats(): { handshakes: number; resumed: number; abandoned: number };
}

export function createEndpointCredentials(tls: TlsMaterial, serverName: string | undefined): EndpointCredentials {
  const context = createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
  const byAddress = new Map<string, ResumingCredentials>();
  return {
    for(address) {
      let credentials = byAddress.get(address);
      if (!credentials) {
        credentials = new ResumingCredentials(context, hostOf(address), serverName);
        byAddress.set(address, credentials);
      }
      return credentials;
    },
    stats() {
      const total = { handshakes: 0, resumed: 0, abandoned: 0 };
      for (const credentials of byAddress.values()) {
        const { handshakes, resumed, abandoned } = credentials.stats();
        total.handshakes += handshakes;
        total.resumed += resumed;
        total.abandoned += abandoned;
      }
      return total;
    },
  };
}

/** The host of "host:port" ("[::1]:443" → "::1"). */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  const host = colon > 0 ? address.slice(0, colon) : address;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
