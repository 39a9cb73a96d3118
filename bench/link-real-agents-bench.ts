// `npm run bench -- link-real`: a controller restart under agents that run
// the agent's own link client (agent/link/link-client.ts: grpc-js, the
// agent's credentials, backoff and defaults), not the hand-framed load
// agents of the other link benchmarks, which are lighter but are not what
// an operator runs. Each connects once (a full TLS handshake), then the
// controller is stopped with SIGTERM and a new one starts on the same port
// and store (with `tls.ticketKeyFile`, as link-setup.ts configures it), and
// every agent comes back: the figures are the time until all are back,
// how many of them resumed their TLS session (the link clients' own count),
// and the controller's CPU per agent on the first connect and on the
// reconnect, from listening until all are back (/proc).
//
//   LINK_REAL_AGENTS=1000 node --import tsx bench/link-real-agents-bench.ts
//   LINK_REAL_NEW_TICKET_KEY=1 ...   # a new ticket secret before the restart: full handshakes, to compare
//
// grpc-js clients cost the load process several times what the load agents
// do, so the default is 1,000 agents; the restart target is for
// 10,000 and is not measured here.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createLinkClient, type LinkClient } from "../agent/link/link-client.js";
import { create } from "@bufbuild/protobuf";
import { HelloSchema } from "../gen/secarc/v1/agent_service_pb.js";
import { silentLogger } from "../common/log.js";
import { printRows, type BenchRow } from "./bench-rows.js";
import { until } from "./link-load-fleet.js";
import { cpuSeconds, createLinkBenchSetup, loadAverage, seconds, sleep } from "./link-setup.js";

const TOTAL = Number(process.env.LINK_REAL_AGENTS ?? "1000");
const DEADLINE_MS = 180_000;
const out = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  out(`link with real agents: ${TOTAL} agents (grpc-js link clients in this process); load average ${loadAverage()}`);
  const setup = await createLinkBenchSetup(TOTAL, "secarc-link-real-", { slots: false });
  let controller = await setup.startController(0);
  const clients: LinkClient[] = [];
  try {
    const ca = Buffer.from(setup.pki.ca.cert);
    for (const agent of setup.pki.agents) {
      clients.push(
        createLinkClient({
          addresses: [`127.0.0.1:${controller.port}`],
          serverName: "localhost",
          tls: { ca, cert: Buffer.from(agent.cert), key: Buffer.from(agent.key) },
          // The agent's defaults (agent/config.ts): 500 ms doubling to 30 s, full jitter; 15 s for a Welcome.
          link: { backoffInitial: 500, backoffMax: 30_000, keepaliveTime: 30_000, keepaliveTimeout: 20_000, maxMessageBytes: 4 << 20, connectTimeout: 15_000 },
          hello: () => create(HelloSchema, { agentId: agent.name, agentVersion: "bench", hostname: agent.name }),
          pending: { page: () => [], lastSeq: () => 0 },
          outboxDepth: () => 0,
          onMessage: () => undefined,
          logger: silentLogger(),
          now: Date.now,
        }),
      );
    }
    const connected = () => clients.filter((c) => c.isConnected()).length;
    const handshakes = () =>
      clients.reduce(
        (sum, c) => {
          const own = c.tlsHandshakes();
          return { handshakes: sum.handshakes + own.handshakes, resumed: sum.resumed + own.resumed, abandoned: sum.abandoned + own.abandoned };
        },
        { handshakes: 0, resumed: 0, abandoned: 0 },
      );
    let cpu = cpuSeconds(controller.pid);
    for (const client of clients) client.start();
    const connectMs = await until(() => connected() === TOTAL, "the first connect", DEADLINE_MS, 20);
    const firstCpu = cpuSeconds(controller.pid) - cpu;
    out(`  ${TOTAL} agents connected in ${seconds(connectMs)} s; controller CPU ${((firstCpu * 1000) / TOTAL).toFixed(2)} ms per agent (full handshakes: ${handshakes().handshakes - handshakes().resumed})`);
    // TLS 1.3 tickets come after the handshake.
    await sleep(1_000);

    const stopAt = Date.now();
    controller.kill("SIGTERM");
    await controller.stopped;
    await until(() => connected() === 0, "the agents noticing the stop", 30_000, 20);
    // LINK_REAL_NEW_TICKET_KEY=1: a new ticket secret, so every ticket is refused (full handshakes, for comparison).
    if (process.env.LINK_REAL_NEW_TICKET_KEY === "1") rmSync(join(setup.dir, "tls-tickets.key"));
    controller = await setup.startController(controller.port);
    const listeningMs = Date.now() - stopAt;
    cpu = cpuSeconds(controller.pid);
    await until(() => connected() === TOTAL && handshakes().handshakes >= 2 * TOTAL, "the reconnect", DEADLINE_MS, 20);
    const backMs = Date.now() - stopAt;
    const againCpu = cpuSeconds(controller.pid) - cpu;
    const counted = handshakes();
    const resumed = counted.resumed;
    out(
      `  restart: the new controller listening ${seconds(listeningMs)} s after the stop began, all ${TOTAL} back after ${seconds(backMs)} s; ` +
        `${resumed} of ${TOTAL} resumed their TLS session (${counted.handshakes} handshakes in all; ${counted.abandoned} dials of closed sessions' channels stopped); controller CPU ${((againCpu * 1000) / TOTAL).toFixed(2)} ms per agent, load average ${loadAverage()}`,
    );
    const rows: BenchRow[] = [
      {
        figure: `${TOTAL} real agents back after a controller restart`,
        measured: `${seconds(backMs)} s (${resumed} of ${TOTAL} TLS sessions resumed)`,
        target: "< 30 s at 10,000",
        met: undefined,
      },
      {
        figure: "controller CPU per real agent: first connect / reconnect",
        measured: `${((firstCpu * 1000) / TOTAL).toFixed(2)} / ${((againCpu * 1000) / TOTAL).toFixed(2)} ms`,
        target: "reconnects resumed (every agent)",
        met: process.env.LINK_REAL_NEW_TICKET_KEY === "1" ? undefined : resumed === TOTAL,
      },
    ];
    printRows(`link figures with real agents (${TOTAL})`, rows);
    if (resumed < TOTAL && process.env.LINK_REAL_NEW_TICKET_KEY !== "1") throw new Error(`${TOTAL - resumed} agents made a full handshake on the reconnect`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    controller.kill("SIGTERM");
    await controller.stopped;
    setup.remove();
  }
}

main().catch((err: unknown) => {
  out(`link bench with real agents failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
