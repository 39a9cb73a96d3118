import { isIP } from "node:net";
import tls from "node:tls";
import type { TlsMaterial } from "../common/tls.js";

export interface DiagnosisTarget {
  host: string;
  port: number;
  /** The name the controller's certificate must carry; default: host. */
  serverName?: string;
  tls: TlsMaterial;
  /** Paths, to name them in explanations. */
  caPath: string;
  timeoutMs: number;
}

/** What the TLS alert a server sends means for the agent's certificate. */
const SERVER_ALERTS: Record<string, string> = {
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "it is not signed by the controller's CA (a certificate from another CA)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: "it is revoked (listed in the controller's CRL)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "it has expired or is not valid yet",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the controller could not verify it (bad certificate)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "the controller could not verify it (certificate unknown)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "none was sent",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "its key does not match it",
};

/** OpenSSL verification codes of the controller's certificate, as the agent side sees them. */
const SERVER_CERT_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "the controller's certificate has expired",
  CERT_NOT_YET_VALID: "the controller's certificate is not valid yet (check the clocks)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the controller's certificate is self-signed, not signed by the CA in",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the controller's certificate is not signed by the CA in",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the controller's certificate is not signed by the CA in",
  SELF_SIGNED_CERT_IN_CHAIN: "the controller's certificate chains to another CA than the one in",
  CERT_SIGNATURE_FAILURE: "the controller's certificate signature is invalid for the CA in",
};

/** Network errors before any TLS, in words. */
function networkReason(code: string | undefined, target: DiagnosisTarget): string | undefined {
  const where = `${target.host}:${target.port}`;
  switch (code) {
    case "ECONNREFUSED":
      return `controller unreachable: connection refused at ${where} (is the controller running, and is controller.address right?)`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `controller unreachable: no route to ${where}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `controller unreachable: cannot resolve the host name "${target.host}"`;
    case "ETIMEDOUT":
      return `controller unreachable: no answer from ${where} (a firewall dropping packets, or the wrong address)`;
    default:
      return undefined;
  }
}

/**
 * Opens a bare mutual-TLS connection to the controller with the agent's
 * material and explains why it fails: refused, unreachable, the controller's
 * certificate not trusted, or the agent's certificate refused by the
 * controller (a TLS alert, which with TLS 1.3 arrives just after the
 * handshake). Resolves to undefined when the connection works.
 */
export function diagnoseConnection(target: DiagnosisTarget): Promise<string | undefined> {
  const name = target.serverName ?? target.host;
  return new Promise((resolve) => {
    let settled = false;
    let socket: tls.TLSSocket | undefined;
    const finish = (reason: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(reason);
    };
    const timer = setTimeout(
      () => finish(socket?.encrypted && socket.authorized ? undefined : `controller unreachable: no answer from ${target.host}:${target.port} within ${Math.round(target.timeoutMs / 100) / 10} s (a firewall dropping packets, or the wrong address)`),
      target.timeoutMs,
    );
    socket = tls.connect({
      host: target.host,
      port: target.port,
      ...(isIP(name) ? {} : { servername: name }),
      ca: target.tls.ca,
      cert: target.tls.cert,
      key: target.tls.key,
      ALPNProtocols: ["h2"],
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
    });
    let handshaken = false;
    const refused =
      "TLS: the controller refused this agent's certificate right after the handshake (revoked, or signed by a CA the controller does not trust; the controller's log names the reason)";
    socket.once("secureConnect", () => {
      // With TLS 1.3 the controller checks the client certificate after the
      // handshake and drops the connection (or sends an alert) when it refuses it.
      handshaken = true;
      socket?.resume();
      setTimeout(() => finish(undefined), 500);
    });
    socket.once("close", () => {
      if (handshaken) finish(refused);
    });
    socket.once("error", (err: Error & { code?: string; reason?: string }) => {
      const code = err.code;
      const network = networkReason(code, target);
      if (network) return finish(network);
      if (code && SERVER_ALERTS[code]) return finish(`TLS: the controller refused this agent's certificate: ${SERVER_ALERTS[code]}`);
      if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
        return finish(`TLS: the controller's certificate is not valid for "${name}" (${err.reason ?? err.message}); set controller.serverName to a name in it`);
      }
      if (code && SERVER_CERT_REASONS[code]) {
        const reason = SERVER_CERT_REASONS[code];
        return finish(`TLS: ${reason}${reason.endsWith(" in") ? ` tls.ca (${target.caPath})` : ""}`);
      }
      if (handshaken && (code === "ECONNRESET" || code === "EPIPE")) return finish(refused);
      if (code === "ECONNRESET" || code === "EPIPE") return finish(`TLS: the controller closed the connection during the handshake (is ${target.host}:${target.port} the SecARC controller?)`);
      finish(`TLS: ${err.message}${code ? ` (${code})` : ""}`);
    });
  });
}
