// The transport floor for docs/performance.md: a bare node:http2 server with mutual TLS that holds one gRPC-shaped stream per connection (SETTINGS and SESSION_MEM from the environment). Started by bench/link-floor.ts.
import http2 from "node:http2"; import { readFileSync } from "node:fs";
const [ca, cert, key] = process.argv.slice(2).map((p) => readFileSync(p));
const settings = process.env.SETTINGS ? JSON.parse(process.env.SETTINGS) : { maxConcurrentStreams: 16 };
const server = http2.createSecureServer({ ca, cert, key, requestCert: true, rejectUnauthorized: true, allowHTTP1: false, settings, ...(process.env.SESSION_MEM ? { maxSessionMemory: Number(process.env.SESSION_MEM) } : {}) });
server.on("stream", (stream) => {
  stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
  // Welcome-shaped frame so the load agent counts it.
  const welcome = Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00]);
  stream.write(welcome); stream.on("data", () => {}); stream.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port, pid: process.pid }) + "\n"));
process.on("SIGUSR2", () => { (globalThis as { gc?: () => void }).gc?.(); process.stdout.write(JSON.stringify({ memory: process.memoryUsage() }) + "\n"); });
