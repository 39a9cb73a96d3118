// System test (acceptance 3): real sshd (Debian openssh-server) in a network
// namespace, logging to a file with `sshd -E` (no syslog here); clients in
// a second namespace. A real agent runs the ssh-session and ssh-brute-force
// detectors on that file and sends their alerts over mutual TLS to a real
// controller, whose store the test reads. sshd -E lines carry no PID, so the
// agent finds the session's sshd through /proc by its connection.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createNetnsPair, run, stopChild, waitFor, type NetnsPair } from "./support/detectors-netns.js";

describe("SSH detectors against real sshd in a network namespace", function () {
  this.timeout(90_000);
  let pair: NetnsPair | undefined;
  let sshd: ChildProcess | undefined;
  let linked: LinkedAgent | undefined;
  let dir: string;

  const clientSsh = (extra: string[]) => [
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=5",
    ...extra,
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-sshd-sys-"));
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
    await run("cp", [join(dir, "client_key.pub"), join(dir, "authorized_keys")]);
    const askpass = join(dir, "askpass.sh");
    writeFileSync(askpass, "#!/bin/sh\necho not-the-password\n");
    chmodSync(askpass, 0o755);
    const log = join(dir, "sshd.log");
    writeFileSync(log, "");
    pair = await createNetnsPair("ssh");
    sshd = pair.spawn(
      pair.server,
      "/usr/sbin/sshd",
      [
        "-D",
        "-E",
        log,
        "-f",
        "/dev/null",
        "-o",
        `ListenAddress=${pair.serverIp}:22`,
        "-o",
        `HostKey=${join(dir, "host_key")}`,
        "-o",
        `AuthorizedKeysFile=${join(dir, "authorized_keys")}`,
        "-o",
        "StrictModes=no",
        "-o",
        "PidFile=none",
        "-o",
        "PermitRootLogin=yes",
        "-o",
        "UsePAM=no",
        "-o",
        "MaxStartups=50",
      ],
      { stdio: "ignore" },
    );
    const p = pair;
    await waitFor(
      () =>
        p.exec(p.client, "ssh", [...clientSsh(["-i", join(dir, "client_key"), "-o", "BatchMode=yes"]), `root@${p.serverIp}`, "true"], 10_000).then(
          () => true,
          () => false,
        ),
      "sshd to accept a login",
      15_000,
    );
    // Start following only now: the probe login above is history.
    linked = await startLinkedAgent({
      sshSession: { source: "file", authLog: log },
      sshBruteForce: { source: "file", authLog: log },
      cpuSustained: { enabled: false },
      nginx404: { enabled: false },
    });
  });

  after(async () => {
    await linked?.close();
    await stopChild(sshd);
    await pair?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a key-based login: an SSH session alert with the right user, address, port and PID is in the controller's store within 1 s", async () => {
    const p = pair!;
    const child = p.spawn(
      p.client,
      "ssh",
      [...clientSsh(["-i", join(dir, "client_key"), "-o", "BatchMode=yes"]), `root@${p.serverIp}`, 'echo "$SSH_CONNECTION $PPID"; sleep 3'],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let loggedInAt = 0;
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (loggedInAt === 0) loggedInAt = Date.now();
    });
    try {
      await waitFor(() => output.includes("\n"), "the remote command's output", 15_000);
      // "$SSH_CONNECTION $PPID" = "client_ip client_port server_ip server_port sshd_pid"
      const [clientIp, clientPort, , , sshdPid] = output.trim().split(" ");
      await waitFor(() => linked!.stored(AlertKind.SSH_SESSION).length > 0, "the session alert in the controller's store", 3000);
      const storedAt = Date.now();
      expect(storedAt - loggedInAt).to.be.below(1000);
      const { alert } = linked!.stored(AlertKind.SSH_SESSION)[0]!;
      expect(alert.severity).to.equal(Severity.INFO);
      expect(alert.state).to.equal(AlertState.OPEN);
      const s = alert.subject.case === "sshSession" ? alert.subject.value : undefined;
      expect(s).to.deep.include({ user: "root", sourceIp: clientIp, sourcePort: Number(clientPort), authMethod: "publickey", sshdPid: Number(sshdPid) });
      expect(clientIp).to.equal(p.clientIp);
      // the session ends: the same alert is resolved
      await waitFor(() => child.exitCode !== null, "the ssh client to finish", 10_000);
      await waitFor(() => linked!.stored(AlertKind.SSH_SESSION)[0]!.alert.state === AlertState.RESOLVED, "the resolution in the store", 3000);
      expect(linked!.stored(AlertKind.SSH_SESSION)).to.have.length(1);
      expect(linked!.stored(AlertKind.SSH_SESSION)[0]!.alert.revision).to.equal(2);
    } finally {
      await stopChild(child);
    }
  });

  it("25 failed password attempts: a brute-force alert for the client's address reaches the controller", async () => {
    const p = pair!;
    // 5 connections × 5 password prompts, answered wrongly by an askpass script.
    const attempts = Array.from({ length: 5 }, () =>
      run("ip", [
        "netns",
        "exec",
        p.client,
        "env",
        `SSH_ASKPASS=${join(dir, "askpass.sh")}`,
        "SSH_ASKPASS_REQUIRE=force",
        "ssh",
        ...clientSsh(["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=5"]),
        `root@${p.serverIp}`,
        "true",
      ]).then(
        () => "logged in?!",
        () => "refused",
      ),
    );
    expect(await Promise.all(attempts)).to.deep.equal(Array(5).fill("refused"));
    const failedLines = readFileSync(join(dir, "sshd.log"), "utf8").split("\n").filter((l) => l.startsWith("Failed password for root from "));
    expect(failedLines).to.have.length(25);
    const critical = () => linked!.stored(AlertKind.SSH_BRUTE_FORCE).some((r) => r.alert.severity === Severity.CRITICAL);
    await waitFor(critical, "a critical brute-force alert in the controller's store", 5000);
    await new Promise((r) => setTimeout(r, 300));
    const brute = linked!.stored(AlertKind.SSH_BRUTE_FORCE).map((r) => r.alert);
    expect(brute).to.have.length(1); // one alert per address per burst, escalated in place
    expect(`${Severity[brute[0]!.severity]}/${AlertState[brute[0]!.state]}#${brute[0]!.revision}`).to.equal("CRITICAL/OPEN#2");
    const s = brute[0]!.subject.case === "sshFailures" ? brute[0]!.subject.value : undefined;
    expect(s?.sourceIp).to.equal(p.clientIp);
    expect(s?.count).to.equal(20);
    expect(s?.usernames).to.deep.equal(["root"]);
  });
});
