// The server side of bench/link-floor.ts: AgentService.Connect over HTTP/2
// with mutual TLS, served by one of three stacks, each holding every stream
// open after answering its Hello with a Welcome:
//   FLOOR_SERVER=http2    bare node:http2, gRPC framing by hand (the transport floor)
//   FLOOR_SERVER=connect  @connectrpc/connect-node's adapter on node:http2 (what the controller serves with)
//   FLOOR_SERVER=grpc-js  @grpc/grpc-js's Server with the same service definition as the agent's client
// SETTINGS (JSON HTTP/2 settings) and SESSION_MEM (maxSessionMemory, MB) apply to http2 and connect.
// Prints {port, pid} once listening, and {memory} (after a GC) on SIGUSR2.
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../agent/link/grpc-service.js";
import { AgentService, ControllerMessageSchema, type AgentMessage, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";

const [ca, cert, key] = process.argv.slice(2).map((p) => readFileSync(p)) as [Buffer, Buffer, Buffer];
const kind = process.env.FLOOR_SERVER ?? "http2";
const settings = process.env.SETTINGS ? (JSON.parse(process.env.SETTINGS) as http2.Settings) : { maxConcurrentStreams: 16 };
const welcome = (): ControllerMessage => create(ControllerMessageSchema, { payload: { case: "welcome", value: { controllerVersion: "floor", sessionId: "floor" } } });
const listening = (port: number) => process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);

function http2Server(handler?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void): http2.Http2SecureServer {
  return http2.createSecureServer({
    ca,
    cert,
    key,
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
    settings,
    ...(process.env.SESSION_MEM ? { maxSessionMemory: Number(process.env.SESSION_MEM) } : {}),
  }, handler);
}

if (kind === "http2") {
  const server = http2Server();
  const bytes = toBinary(ControllerMessageSchema, welcome());
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, bytes.length]), bytes]);
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    stream.once("data", () => stream.write(frame));
    stream.on("data", () => {});
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => listening((server.address() as { port: number }).port));
} else if (kind === "connect") {
  const adapter = connectNodeAdapter({
    grpc: true,
    connect: false,
    grpcWeb: false,
    routes: (router) =>
      router.service(AgentService, {
        async *connect(requests: AsyncIterable<AgentMessage>) {
          let first = true;
          for await (const _ of requests) {
            if (first) yield welcome();
            first = false;
          }
        },
      }),
  });
  const server = http2Server(adapter);
  server.listen(0, "127.0.0.1", () => listening((server.address() as { port: number }).port));
} else if (kind === "grpc-js") {
  const server = new grpc.Server();
  server.addService(grpcServiceDefinition(AgentService), {
    connect(call: grpc.ServerDuplexStream<AgentMessage, ControllerMessage>) {
      call.once("data", () => call.write(welcome()));
      call.on("data", () => {});
      call.on("error", () => {});
    },
  });
  const credentials = grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], true);
  server.bindAsync("127.0.0.1:0", credentials, (err, port) => {
    if (err) throw err;
    listening(port);
  });
} else {
  throw new Error(`FLOOR_SERVER must be http2, connect or grpc-js, not ${kind}`);
}

process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`${JSON.stringify({ memory: process.memoryUsage() })}\n`);
});
