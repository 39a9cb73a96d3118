import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { respondersConfigSchema } from "../../agent/responders/config.js";
import { createResponderSet } from "../../agent/responders/registry.js";
import type { Responder } from "../../agent/responders/responder.js";
import { silentLogger } from "../../common/log.js";
import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import { createLab, nsExec, type Lab, type LabHost } from "./netns.js";
import { createNetnsRunner } from "./netns-runner.js";
import { startNginx, type NginxServer } from "./nginx.js";
import { recordExecutions, type RecordedExecution } from "./responder-lab.js";

/** One server of a fleet lab: its namespace, its nginx, its agent's state directory, what its responders ran. */
export interface FleetServer {
  name: string;
  host: LabHost;
  nginx: NginxServer;
  stateDir: string;
  /** Every action its responders were handed (across agent restarts). */
  executions: RecordedExecution[];
  /** Real responders acting on this server's namespace (its own nftables), each execution recorded; a second call = an agent restart. */
  responders(answers: readonly Answer[]): Map<Answer, Responder>;
  /** `nft list ruleset` in its namespace. */
  ruleset(): Promise<string>;
}

export interface FleetLab {
  lab: Lab;
  servers: FleetServer[];
  /** A client that scans the servers. */
  scanner: LabHost;
  /** Another client, never blocked. */
  other: LabHost;
  /** Stops every nginx, kills what is left in the namespaces, deletes them (and with them their nft tables) and the state directories. */
  cleanup(): Promise<void>;
}

/**
 * Servers side by side in one lab network, each a namespace of its own with
 * real nginx and real nftables (one firewall per namespace), plus a scanner
 * and another client in namespaces of their own: the same scanner address
 * reaches every server, as on a real network.
 */
export async function createFleetLab(names: readonly string[]): Promise<FleetLab> {
  const lab = await createLab({ clients: names.length + 2 });
  const servers: FleetServer[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const host = lab.clients[i]!;
      const nginx = await startNginx(host.ns);
      const stateDir = mkdtempSync(join(tmpdir(), `secarc-fleet-${name}-`));
      const executions: RecordedExecution[] = [];
      servers.push({
        name,
        host,
        nginx,
        stateDir,
        executions,
        responders(answers) {
          const set = createResponderSet(respondersConfigSchema.parse({}), {
            logger: silentLogger(),
            now: Date.now,
            controllerAddresses: [],
            stateDir,
            runner: createNetnsRunner(host.ns),
            ownAddresses: () => ["127.0.0.1", "::1", host.ipv4, host.ipv6],
            procScope: { netnsPath: `/run/netns/${host.ns}` },
            hasSystemd: () => true,
            blockPrefixes: { ipv4Prefix: 32, ipv6Prefix: 128 },
          });
          return recordExecutions(set.responders, executions, answers);
        },
        async ruleset() {
          const result = await nsExec(host.ns, "nft", ["list", "ruleset"]);
          if (result.code !== 0) throw new Error(`nft list ruleset: ${result.stderr}`);
          return result.stdout;
        },
      });
    }
  } catch (err) {
    await cleanupAll();
    throw err;
  }
  async function cleanupAll(): Promise<void> {
    for (const server of servers) await server.nginx.stop().catch(() => {});
    await lab.cleanup();
    for (const server of servers) rmSync(server.stateDir, { recursive: true, force: true });
  }
  return { lab, servers, scanner: lab.clients[names.length]!, other: lab.clients[names.length + 1]!, cleanup: cleanupAll };
}
