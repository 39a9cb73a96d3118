import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "./netns.js";
import { run, runOk } from "./netns.js";
import { ensureTestUser, rawSshClient, sshLogin, startSshd, waitForAcceptedPort, type SshdServer } from "./sshd.js";

/**
 * A corpus of what real sshd (Debian openssh-server) writes for each
 * failure family, produced for real in a lab: sshd with AllowUsers,
 * DenyGroups, PermitRootLogin no, MaxAuthTries 2, PAM and LogLevel VERBOSE
 * logs with `-E` to a file; clients in other namespaces produce wrong
 * passwords, unknown users, root, too many tries, no key, a bad banner, a
 * cipher mismatch, a refused and a denied user, a login after a wrong key.
 * Each scenario runs from a known client address, so the ground truth of
 * every line (whose address it is) is known independently of the parser.
 */

/** A user in AllowUsers but in a group listed in DenyGroups. */
export const DENIED_USER = "secarc-denied";
export const DENIED_GROUP = "secarc-denied-grp";
/** A user that exists but is not in AllowUsers. */
export const OTHER_USER = "secarc-other";

export interface CorpusScenario {
  name: string;
  /** The client address the scenario's lines must be counted for. */
  address: string;
  /** The client ports its connections used (where the client knows them). */
  ports: number[];
  /** Whether normal mode must count it (false: a login, or aggressive-only noise). */
  countsInNormal: boolean;
}

export interface SshCorpus {
  sshd: SshdServer;
  scenarios: CorpusScenario[];
  /** The -E file's text once every scenario has ended. */
  log(): string;
}

async function ensureUsers(): Promise<void> {
  if ((await run("getent", ["group", DENIED_GROUP])).code !== 0) await run("groupadd", [DENIED_GROUP]);
  await ensureTestUser(DENIED_USER);
  await runOk("usermod", ["-a", "-G", DENIED_GROUP, DENIED_USER]);
  await ensureTestUser(OTHER_USER);
}

/** Starts the corpus sshd in the lab's server and runs every scenario; clients[0] attacks, clients[1] is the user. */
export async function captureSshCorpus(lab: Lab): Promise<SshCorpus> {
  await ensureUsers();
  const sshd = await startSshd(lab.server.ns, {
    settings: {
      UsePAM: "yes",
      AllowUsers: `secarc-test ${DENIED_USER}`,
      DenyGroups: DENIED_GROUP,
      PermitRootLogin: "no",
      MaxAuthTries: "2",
      LogLevel: "VERBOSE",
    },
  });
  try {
    return await runScenarios(lab, sshd);
  } catch (err) {
    // The caller stops it only when the capture succeeded.
    await sshd.stop();
    throw err;
  }
}

async function runScenarios(lab: Lab, sshd: SshdServer): Promise<SshCorpus> {
  const attacker = lab.clients[0]!;
  const user = lab.clients[1]!;
  const host = lab.server.ipv4;
  const scenarios: CorpusScenario[] = [];
  const raw = async (name: string, args: string[], countsInNormal = true) => {
    const r = await rawSshClient(attacker.ns, host, sshd.port, args);
    scenarios.push({ name, address: attacker.ipv4, ports: [r.port], countsInNormal });
  };
  await raw("wrong password", ["password", "secarc-test", "wrong", "1"]);
  await raw("unknown user", ["password", "nobody-here", "wrong", "1"]);
  await raw("root", ["password", "root", "wrong", "1"]);
  await raw("too many tries", ["password", "secarc-test", "wrong", "3"]);
  await raw("user not in AllowUsers", ["password", OTHER_USER, "wrong", "1"]);
  await raw("user in DenyGroups", ["password", DENIED_USER, "wrong", "1"]);
  await raw("bad protocol banner", ["banner", "GET / HTTP/1.1"], false);
  await raw("cipher mismatch", ["cipher", "aes128-cbc"], false);
  // No key: the stock client with a key that is not authorized, nothing else to try.
  const strangerKey = join(sshd.dir, "stranger_key");
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", strangerKey]);
  const noKey = sshLogin(attacker.ns, sshd, { host, command: "true", keys: [strangerKey] });
  await new Promise((resolve) => (noKey.exitCode !== null ? resolve(null) : noKey.once("exit", resolve)));
  scenarios.push({ name: "no key", address: attacker.ipv4, ports: [], countsInNormal: true });
  // A wrong key, then the right one (MaxAuthTries 2 leaves room for one): a login, nothing counted.
  const login = sshLogin(user.ns, sshd, { host, command: "true", keys: [strangerKey, sshd.clientKey] });
  // `true` ends the session at once: only the port is needed, not a live session.
  const port = await waitForAcceptedPort(sshd, user.ipv4, 15_000);
  await new Promise((resolve) => (login.exitCode !== null ? resolve(null) : login.once("exit", resolve)));
  scenarios.push({ name: "wrong key then login", address: user.ipv4, ports: [port], countsInNormal: false });
  // sshd writes a connection's last lines as it ends: wait for them.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && countLines(sshd, new RegExp(`Disconnected from user secarc-test ${user.ipv4.replaceAll(".", "\\.")} port`)) === 0) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return { sshd, scenarios, log: () => (existsSync(sshd.authLog) ? readFileSync(sshd.authLog, "utf8") : "") };
}

function countLines(sshd: SshdServer, pattern: RegExp): number {
  return existsSync(sshd.authLog) ? readFileSync(sshd.authLog, "utf8").split("\n").filter((l) => pattern.test(l)).length : 0;
}
