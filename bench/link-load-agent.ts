import http2 from "node:http2";
import { connect as tlsConnect, type SecureContext } from "node:tls";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { RECONNECT_REBALANCE, RECONNECT_TRAILER } from "../common/link-reconnect.js";
import { AgentMessageSchema, ControllerMessageSchema, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";

export interface LoadAgentOptions {
  port: number;
  /** The agent's TLS context (CA, certificate, key), made once per agent and reused across reconnects. */
  secureContext: SecureContext;
  name: string;
  /** A TLS session (ticket) from an earlier connection, offered for resumption. */
  tlsSession?: Buffer | undefined;
  /** Told of every TLS session (ticket) the controller issues on this connection. */
  onTlsSession?(session: Buffer): void;
  /** Told once the handshake is done: whether the TLS session was resumed. */
  onSecure?(resumed: boolean): void;
  onMessage(message: ControllerMessage): void;
  /**
   * The stream or connection ended (for any reason): the gRPC status the
   * controller sent, or what ended it; `rebalance` when its trailers said
   * `secarc-reconnect: rebalance` (the stream reached link.maxStreamAge).
   */
  onEnd(reason: string, rebalance: boolean): void;
}

export interface LoadAgent {
  send(message: MessageInitShape<typeof AgentMessageSchema>): void;
  /** Ends the connection from this side; onEnd is not called. */
  close(): void;
}

/**
 * A minimal agent for load: one HTTP/2 connection with mutual TLS and one
 * gRPC Connect stream framed by hand (5-byte prefix + protobuf), so that
 * thousands fit in one process without a gRPC library's per-channel cost.
 */
export function openLoadAgent(options: LoadAgentOptions): LoadAgent {
  let ended = false;
  let reason = "connection closed";
  let rebalance = false;
  const end = () => {
    if (ended) return;
    ended = true;
    options.onEnd(reason, rebalance);
  };
  // The chain is verified against the CA as usual; the host-name check is
  // skipped only to keep the load process's CPU for the handshakes.
  const session = http2.connect(`https://127.0.0.1:${options.port}`, {
    createConnection: () => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: options.port,
        secureContext: options.secureContext,
        servername: "localhost",
        ALPNProtocols: ["h2"],
        checkServerIdentity: () => undefined,
        ...(options.tlsSession ? { session: options.tlsSession } : {}),
      });
      // Node builds the detailed peer certificate only to hand it to
      // checkServerIdentity (a no-op here); building it costs about 2 ms of
      // CPU per connect (OpenSSL 3's decoders), which made the load process
      // the bottleneck of a connect storm. The chain is still verified.
      (socket as { getPeerCertificate: () => object }).getPeerCertificate = () => ({});
      socket.on("session", (ticket: Buffer) => options.onTlsSession?.(ticket));
      socket.once("secureConnect", () => options.onSecure?.(socket.isSessionReused()));
      return socket;
    },
  });
  session.on("error", (err: Error & { code?: string }) => (reason = `connection error ${err.code ?? err.message}`));
  session.on("close", end);
  const stream = session.request({
    ":method": "POST",
    ":path": "/secarc.v1.AgentService/Connect",
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  stream.on("error", (err: Error & { code?: string }) => (reason = `stream error ${err.code ?? err.message}`));
  const status = (headers: http2.IncomingHttpHeaders) => {
    if (headers["grpc-status"] !== undefined) reason = `grpc-status ${String(headers["grpc-status"])} ${decodeURIComponent(String(headers["grpc-message"] ?? ""))}`.slice(0, 160);
    if (headers[RECONNECT_TRAILER] === RECONNECT_REBALANCE) rebalance = true;
  };
  stream.on("response", status);
  stream.on("trailers", status);
  // The server ended the call (trailers): end our side too, as gRPC clients do.
  stream.on("end", () => stream.close());
  stream.on("close", () => {
    end();
    session.close();
  });
  let buffer: Buffer = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (buffer.length >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      options.onMessage(fromBinary(ControllerMessageSchema, buffer.subarray(5, 5 + length)));
      buffer = buffer.subarray(5 + length);
    }
  });
  return {
    send(message) {
      if (ended) return;
      const bytes = toBinary(AgentMessageSchema, create(AgentMessageSchema, message));
      const frame = Buffer.allocUnsafe(5 + bytes.length);
      frame[0] = 0;
      frame.writeUInt32BE(bytes.length, 1);
      frame.set(bytes, 5);
      stream.write(frame);
    },
    close() {
      ended = true;
      stream.close();
      session.destroy();
    },
  };
}
