import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AgentMessageSchema, ControllerMessageSchema, HelloSchema, type ControllerMessage } from "../../gen/secarc/v1/agent_service_pb.js";

const CONNECT_PATH = "/secarc.v1.AgentService/Connect";

export interface RawAgentOptions {
  port: number;
  /** Default: "127.0.0.1". */
  host?: string;
  /** PEM path of the CA that signed the controller's certificate. */
  ca: string;
  /** Client certificate and key paths; omit both to connect without a certificate. */
  cert?: string;
  key?: string;
}

export interface StreamStatus {
  code: grpc.status;
  details: string;
}

/**
 * A bare AgentService.Connect stream over @grpc/grpc-js with mutual TLS,
 * with no agent logic: tests send whatever they like (bad Hellos, oversized
 * messages, raw bytes) and inspect every ControllerMessage received.
 */
export interface RawAgentClient {
  /** Every message received so far, in order. */
  readonly received: ControllerMessage[];
  /** Sends one AgentMessage. */
  send(message: MessageInitShape<typeof AgentMessageSchema>): void;
  /** Sends bytes as one message, whatever they encode (e.g. an alert with invalid UTF-8). */
  sendRaw(bytes: Uint8Array): void;
  /** Sends a Hello with the given fields. */
  hello(fields: MessageInitShape<typeof HelloSchema>): void;
  /** Resolves with the first received message (past or future) matching `match`, or rejects after `timeoutMs`. */
  waitFor(match: (message: ControllerMessage) => boolean, timeoutMs?: number): Promise<ControllerMessage>;
  /** Resolves when the stream has ended, with its status. */
  readonly ended: Promise<StreamStatus>;
  /** Half-closes the sending side. */
  end(): void;
  /** Cancels the call and closes the channel. */
  close(): void;
}

export function connectRawAgent(options: RawAgentOptions): RawAgentClient {
  const credentials = grpc.credentials.createSsl(
    readFileSync(options.ca),
    options.key ? readFileSync(options.key) : null,
    options.cert ? readFileSync(options.cert) : null,
  );
  const host = options.host ?? "127.0.0.1";
  const target = host.includes(":") ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const client = new grpc.Client(target, credentials, { "grpc.use_local_subchannel_pool": 1, "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" });
  const call = client.makeBidiStreamRequest<Uint8Array, ControllerMessage>(
    CONNECT_PATH,
    (bytes) => Buffer.from(bytes),
    (bytes) => fromBinary(ControllerMessageSchema, bytes),
  );

  const received: ControllerMessage[] = [];
  const waiters = new Set<{ match: (m: ControllerMessage) => boolean; resolve: (m: ControllerMessage) => void }>();
  let endedStatus: StreamStatus | undefined;
  const endWaiters = new Set<() => void>();

  call.on("data", (message: ControllerMessage) => {
    received.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  });
  call.on("error", () => {});
  const ended = new Promise<StreamStatus>((resolve) => {
    call.on("status", (status: grpc.StatusObject) => {
      endedStatus = { code: status.code, details: status.details };
      resolve(endedStatus);
      for (const wake of endWaiters) wake();
    });
  });

  const send = (message: MessageInitShape<typeof AgentMessageSchema>) => {
    call.write(toBinary(AgentMessageSchema, create(AgentMessageSchema, message)));
  };

  return {
    received,
    send,
    sendRaw(bytes) {
      call.write(bytes);
    },
    hello(fields) {
      send({ payload: { case: "hello", value: create(HelloSchema, fields) } });
    },
    waitFor(match, timeoutMs = 5_000) {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (m: ControllerMessage) => { clearTimeout(timer); endWaiters.delete(onEnd); resolve(m); } };
        const onEnd = () => {
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`stream ended (${endedStatus?.code} ${endedStatus?.details}) before the awaited message`));
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          endWaiters.delete(onEnd);
          reject(new Error(`no matching message within ${timeoutMs} ms; received ${received.map((m) => m.payload.case).join(",")}`));
        }, timeoutMs);
        waiters.add(waiter);
        if (endedStatus) onEnd();
        else endWaiters.add(onEnd);
      });
    },
    ended,
    end() {
      call.end();
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
