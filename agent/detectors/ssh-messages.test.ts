import { expect } from "chai";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import { createSshBruteForceProcessor } from "./ssh-brute-force.js";
import { parseSshMessage, type SshEvent } from "./ssh-messages.js";

/** family/level and sshd's address candidates of a message, "null" (of no interest) or "malformed". */
function brief(message: string): string {
  const e: SshEvent | null | undefined = parseSshMessage(message);
  if (e === null) return "null";
  if (e === undefined) return "malformed";
  const peers = "peers" in e ? e.peers.map((p) => (p.port === undefined ? p.host : `${p.host}:${p.port}`)).join(" ") : "";
  return e.type === "failure" ? `${e.family}/${e.level} ${peers}`.trim() : `${e.type} ${peers}`.trim();
}

describe("sshd message families", () => {
  it("recognises every failure family of fail2ban's normal mode and sshd 9.x", () => {
    const cases: Array<[string, string]> = [
      ["Failed password for root from 192.0.2.1 port 56502 ssh2", "failed/normal 192.0.2.1:56502"],
      ["Failed password for invalid user ROOT from aaaa:bbbb:cccc:1234::1:1 port 50273 ssh2", "failed/normal aaaa:bbbb:cccc:1234::1:1:50273"],
      ["Failed none for invalid user x from 192.0.2.2 port 1 ssh2", "failed/normal 192.0.2.2:1"],
      ["Failed keyboard-interactive/pam for invalid user jamedds from 205.186.180.77 port 33723 ssh2", "failed/normal 205.186.180.77:33723"],
      ["Failed unknown for invalid user redmond from 192.0.2.1 port 59197 ssh2", "failed/normal 192.0.2.1:59197"],
      ["Failed password for invalid user ROOT from 194.117.26.70 port 12345", "failed/normal 194.117.26.70:12345"],
      ["Failed password for invalid user ROOT from 194.117.26.71", "failed/normal 194.117.26.71"],
      ["Failed publickey for git from 192.0.2.1 port 57904 ssh2: ECDSA SHA256:v3dpapGleDaUKf4V1vKyR9ZyUgjaJAmoCTcb2PLljI", "failed-publickey/normal 192.0.2.1:57904"],
      ["Invalid user ftp from 192.0.2.2 port 37220", "invalid-user/normal 192.0.2.2:37220"],
      ["Invalid user  from 192.0.2.68 port 34916", "invalid-user/normal 192.0.2.68:34916"],
      ["User root from 211.188.220.49 not allowed because not listed in AllowUsers", "not-allowed/normal 211.188.220.49"],
      ["User root from 46.45.128.3 not allowed because listed in DenyUsers", "not-allowed/normal 46.45.128.3"],
      ["User allena from example.com not allowed because not in any group", "not-allowed/normal example.com"],
      ["User root from 192.51.100.54 not allowed because a group is listed in DenyGroups", "not-allowed/normal 192.51.100.54"],
      ["User root from 10.0.0.40 not allowed because none of user's groups are listed in AllowGroups", "not-allowed/normal 10.0.0.40"],
      ["User root not allowed because account is locked", "not-allowed/normal"],
      ["ROOT LOGIN REFUSED FROM 1.2.3.4 port 12345", "root-refused/normal 1.2.3.4:12345"],
      ["error: PAM: Authentication failure for myhlj1374 from 192.0.2.6", "pam-failure/normal 192.0.2.6"],
      ["error: PAM: User not known to the underlying authentication module for illegal user kernelitshell from 10.215.4.227", "pam-failure/normal 10.215.4.227"],
      ["error: PAM: authentication error for james from example.com via 192.168.1.201", "pam-failure/normal example.com"],
      ["pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.112  user=root", "pam-unix/normal 192.0.2.112"],
      ["error: maximum authentication attempts exceeded for root from 61.0.0.1 port 49940 ssh2 [preauth]", "too-many/normal 61.0.0.1:49940"],
      ["Disconnecting authenticating user root 192.0.2.7 port 49941: Too many authentication failures [preauth]", "too-many/normal 192.0.2.7:49941"],
      ["Disconnecting: Too many authentication failures for root [preauth]", "too-many/normal"],
      ["Received disconnect from 10.0.0.1 port 7736:3: com.jcraft.jsch.JSchException: Auth fail [preauth]", "auth-fail-disconnect/normal 10.0.0.1:7736"],
      ["Received disconnect from 89.24.13.192: 3: com.jcraft.jsch.JSchException: Auth fail", "auth-fail-disconnect/normal 89.24.13.192"],
      ["Connection reset by authenticating user root 192.0.2.20 port 1558 [preauth]", "preauth-closed/normal 192.0.2.20:1558"],
      ["Connection closed by invalid user admin 192.0.2.6 port 33553 [preauth]", "preauth-closed/normal 192.0.2.6:33553"],
      ["Disconnected from authenticating user root 192.0.2.6 port 33553 [preauth]", "preauth-closed/normal 192.0.2.6:33553"],
      [
        "Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (user,ssh-connection) [preauth]",
        "change-of-user/normal 192.0.2.117:44004",
      ],
    ];
    expect(cases.map(([m]) => `${m} => ${brief(m)}`)).to.deep.equal(cases.map(([m, want]) => `${m} => ${want}`));
  });

  it("recognises aggressive mode's pre-authentication noise", () => {
    const cases: Array<[string, string]> = [
      ["Did not receive identification string from 192.0.2.5 port 35836", "no-identification/aggressive 192.0.2.5:35836"],
      ["Bad protocol version identification 'dummy string' from 69.61.56.115 port 31778", "bad-banner/aggressive 69.61.56.115:31778"],
      ["banner exchange: Connection from 192.0.2.12 port 44105: invalid format", "bad-banner/aggressive 192.0.2.12:44105"],
      ["Unable to negotiate with 192.0.2.1 port 55419: no matching cipher found. Their offer: aes256-cbc [preauth]", "negotiation/aggressive 192.0.2.1:55419"],
      ["fatal: Unable to negotiate a key exchange method [preauth]", "negotiation/aggressive"],
      ['error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"', "kex-identification/aggressive"],
      ["kex_exchange_identification: Connection closed by remote host", "kex-identification/aggressive"],
      ["fatal: Timeout before authentication for 192.0.2.14 port 55555", "preauth-timeout/aggressive 192.0.2.14:55555"],
      ["Timeout before authentication for connection from 192.0.2.17 to 127.0.0.1, pid = 29098", "preauth-timeout/aggressive 192.0.2.17"],
      ["Received disconnect from 192.168.2.92 port 1684:14: No supported authentication methods available [preauth]", "no-auth-methods/aggressive 192.168.2.92:1684"],
      ["Connection closed by 192.0.2.111 port 4 [preauth]", "preauth-dropped/aggressive 192.0.2.111:4"],
      ["ssh_dispatch_run_fatal: Connection from 192.0.2.13 port 33738: message authentication code incorrect [preauth]", "bad-banner/aggressive 192.0.2.13:33738"],
    ];
    expect(cases.map(([m]) => `${m} => ${brief(m)}`)).to.deep.equal(cases.map(([m, want]) => `${m} => ${want}`));
  });

  it("takes sshd's address, never one in attacker text before or after sshd's fields", () => {
    const cases: Array<[string, string]> = [
      // user names (before)
      ["Failed password for invalid user test from 10.10.1.2 port 55555 ssh2 from 127.0.0.1 port 58946 ssh2", "failed/normal 127.0.0.1:58946"],
      ["Failed password for invalid user from 10.10.1.1 from 127.0.0.1 port 58946 ssh2", "failed/normal 127.0.0.1:58946"],
      ["Invalid user a from 1.1.1.1 port 1 from 9.9.9.9 port 2", "invalid-user/normal 9.9.9.9:2"],
      ["Connection closed by authenticating user test 127.0.0.1 port 12345 192.0.2.11 port 46039 [preauth]", "preauth-closed/normal 192.0.2.11:46039"],
      ["error: PAM: Authentication failure for illegal user x from 10.0.0.77 from 10.0.0.2", "pam-failure/normal 10.0.0.2"],
      ["maximum authentication attempts exceeded for invalid user a from 6.6.6.6 port 1 ssh2 [preauth] from 10.0.0.2 port 5 ssh2 [preauth]", "too-many/normal 10.0.0.2:5"],
      // the client's version string, disconnect reason, offer (after)
      ["Bad protocol version identification 'dummy string' from 192.0.2.1' from 69.61.56.115 port 31778", "bad-banner/aggressive 69.61.56.115:31778"],
      ["Received disconnect from 10.0.0.2 port 5:11: from 6.6.6.6 port 1: Auth fail [preauth]", "ended 10.0.0.2:5"],
      ["Unable to negotiate with 10.0.0.2 port 5: no matching cipher found. Their offer: x from 6.6.6.6 port 1 [preauth]", "negotiation/aggressive 10.0.0.2:5"],
      // pam_unix: fields before rhost are non-space, user= after it
      ["pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.0.2  user=x rhost=6.6.6.6", "pam-unix/normal 10.0.0.2"],
      ["pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=a rhost=6.6.6.6 rhost=10.0.0.2", "malformed"],
      // info after "ssh2: " (hostbased, old ruser): a plain key anchors; else every place is a candidate
      ["Failed publickey for a from 6.6.6.6 port 1 ssh2: RSA SHA256:x from 10.0.0.2 port 5 ssh2: ED25519 SHA256:abc", "failed-publickey/normal 10.0.0.2:5"],
      ["Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4", "failed/normal 127.0.0.1:20000"],
      // both sides attacker text: both candidates; the PID's connection decides (see the processor test)
      ["Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2", "failed/normal 127.0.0.1:58946 10.10.1.2:55555"],
      ["Disconnecting invalid user a 10.0.0.2 port 5: Change of username or service not allowed: (a,s) -> (b 6.6.6.6 port 1: Change of username or service not allowed: ,s) [preauth]", "change-of-user/normal 10.0.0.2:5 6.6.6.6:1"],
      // sshd's own lines carry addresses; names only where sshd writes the canonical host name
      ["Accepted password for a from 1.2.3 port 22 ssh2", "malformed"],
      ["Failed password for a from example.com port 22 ssh2", "malformed"],
      ["Failed password for a from 10.0.0.1 port 99999 ssh2", "malformed"],
      ["Server listening on :: port 22.", "null"],
    ];
    expect(cases.map(([m]) => `${m} => ${brief(m)}`)).to.deep.equal(cases.map(([m, want]) => `${m} => ${want}`));
  });
});

describe("SSH brute force: which address and which lines count", () => {
  function run(lines: string[], mode: "normal" | "aggressive" = "normal") {
    const alerts: Alert[] = [];
    const counted: string[] = [];
    const p = createSshBruteForceProcessor(
      { window: 60_000, warning: 1, critical: 2, maxSources: 100, mode },
      { emit: (a) => alerts.push(a), now: () => new Date(2026, 11, 31).getTime(), timeFromLines: true, onCount: (host) => counted.push(host) },
    );
    for (const line of lines) p.line(line, 0, line.length);
    p.finish();
    return { counted, alerts, stats: p.sshStats };
  }

  it("an ambiguous line is resolved by its PID's connection, or refused", () => {
    const ambiguous = "Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2";
    expect(run([`Nov 11 08:04:52 h sshd[2737]: ${ambiguous}`]).counted).to.deep.equal([]);
    expect(run([`Nov 11 08:04:52 h sshd[2737]: ${ambiguous}`]).stats.ambiguous).to.equal(1);
    const known = run([`Nov 11 08:04:51 h sshd[2737]: Invalid user test from 127.0.0.1 port 58946`, `Nov 11 08:04:52 h sshd[2737]: ${ambiguous}`]);
    expect(known.counted).to.deep.equal(["127.0.0.1"]);
  });

  it("address-less messages take their PID's address, also from a later line", () => {
    expect(
      run([
        "Feb 12 04:09:18 h sshd[26713]: Connection from 115.249.163.77 port 51353 on 127.0.0.1 port 22",
        "Feb 12 04:09:21 h sshd[26713]: Disconnecting: Too many authentication failures [preauth]",
        "Apr 24 01:39:19 h sshd[3719]: User root not allowed because account is locked",
        "Apr 24 01:39:19 h sshd[3719]: error: Received disconnect from 198.51.100.34: 11: Bye Bye [preauth]",
        "Apr 24 01:39:20 h sshd[3720]: Disconnecting: Too many authentication failures for root [preauth]",
      ]).counted,
    ).to.deep.equal(["115.249.163.77", "198.51.100.34"]);
  });

  it("a host name is counted as a name, with no Block IP", () => {
    const { counted, alerts } = run(["Feb 25 14:34:11 belka sshd[31607]: User root from example.com not allowed because not listed in AllowUsers"]);
    expect(counted).to.deep.equal(["example.com"]);
    const s = alerts[0]!.subject.case === "sshFailures" ? alerts[0]!.subject.value : undefined;
    expect([s?.sourceIp, s?.sourceHost]).to.deep.equal(["", "example.com"]);
    expect(alerts[0]!.answers).to.have.length(1);
    // the PID's known address wins over its host name
    expect(
      run(["Feb 25 14:34:10 belka sshd[9]: Connection from 192.0.2.9 port 5 on 10.0.0.1 port 22", "Feb 25 14:34:11 belka sshd[9]: User root from example.com not allowed because not listed in AllowUsers"]).counted,
    ).to.deep.equal(["192.0.2.9"]);
  });

  it("Failed publickey: nothing when the connection logs in, one when it ends without, each in aggressive mode", () => {
    const keysThenLogin = [
      "Nov 28 09:16:03 srv sshd[32307]: Failed publickey for git from 192.0.2.1 port 57904 ssh2: ECDSA SHA256:aaaa",
      "Nov 28 09:16:03 srv sshd[32307]: Failed publickey for git from 192.0.2.1 port 57904 ssh2: RSA SHA256:bbbb",
      "Nov 28 09:16:03 srv sshd[32307]: Accepted publickey for git from 192.0.2.1 port 57904 ssh2: ED25519 SHA256:cccc",
      "Nov 28 09:16:03 srv sshd[32307]: Connection closed by 192.0.2.1",
    ];
    expect(run(keysThenLogin).counted).to.deep.equal([]);
    expect(run(keysThenLogin, "aggressive").counted).to.deep.equal(["192.0.2.1", "192.0.2.1"]);
    const keysThenGone = [
      "Nov 28 09:16:05 srv sshd[32310]: Failed publickey for git from 192.0.2.111 port 57910 ssh2: ECDSA SHA256:aaaa",
      "Nov 28 09:16:05 srv sshd[32310]: Failed publickey for git from 192.0.2.111 port 57910 ssh2: RSA SHA256:bbbb",
      "Nov 28 09:16:05 srv sshd[32310]: Received disconnect from 192.0.2.111 port 57910:11: disconnected by user [preauth]",
    ];
    expect(run(keysThenGone).counted).to.deep.equal(["192.0.2.111"]);
  });

  it("one attempt, several lines: counted once; pre-auth noise only in aggressive mode", () => {
    const attempt = [
      "Mar 19 16:47:48 test sshd[5672]: Invalid user admin from 192.0.2.117 port 44004",
      "Mar 19 16:47:48 test sshd[5672]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.117",
      "Mar 19 16:47:48 test sshd[5672]: Failed password for invalid user admin from 192.0.2.117 port 44004 ssh2",
      "Mar 19 16:47:50 test sshd[5672]: Failed password for invalid user admin from 192.0.2.117 port 44004 ssh2",
      "Mar 19 16:47:51 test sshd[5672]: Connection closed by invalid user admin 192.0.2.117 port 44004 [preauth]",
    ];
    expect(run(attempt).counted).to.deep.equal(["192.0.2.117", "192.0.2.117"]);
    const noise = ["Jun  7 01:11:57 host sshd[8782]: Did not receive identification string from 192.0.2.5 port 35836"];
    expect(run(noise).counted).to.deep.equal([]);
    expect(run(noise, "aggressive").counted).to.deep.equal(["192.0.2.5"]);
  });
});

describe("SSH lines that may be forged inside a user name (rawNewlines)", () => {
  /** Evidence of exactly the connections in `held` (the live agent asks /proc; see sshd-evidence.ts). */
  function run(lines: string[], held: string[]) {
    const counted: string[] = [];
    const asked: string[] = [];
    const p = createSshBruteForceProcessor(
      { window: 60_000, warning: 100, critical: 200, maxSources: 100 },
      {
        emit() {},
        now: () => new Date(2026, 11, 31).getTime(),
        timeFromLines: true,
        rawNewlines: true,
        onCount: (host) => counted.push(host),
        evidence: {
          holds: (ip, port) => (asked.push(`${ip}:${port}`), held.includes(`${ip}:${port}`)),
          peerOf: () => undefined,
          sample() {},
        },
      },
    );
    for (const line of lines) p.line(line, 0, line.length);
    return { counted, asked, stats: p.sshStats };
  }

  it("a syslog file with raw newlines: prefixed lines too count only for a connection sshd serves", () => {
    const { counted, stats } = run(
      [
        // what rsyslog with $EscapeControlCharactersOnReceive off writes for a user name holding a prefixed line
        "Dec  1 10:00:00 web1 sshd[700]: Invalid user x",
        "Dec  1 10:00:00 web1 sshd[1]: Failed password for root from 10.210.0.77 port 51 ssh2",
        "y from 10.0.0.2 port 4000",
        "Dec  1 10:00:01 web1 sshd[701]: Failed password for admin from 10.0.0.3 port 4001 ssh2",
      ],
      ["10.0.0.3:4001"],
    );
    expect(counted).to.deep.equal(["10.0.0.3"]);
    expect(stats.unverified).to.equal(1);
  });

  it("a connection that logged in counts no failures afterwards", () => {
    const { counted } = run(
      ["Accepted publickey for admin from 10.0.0.5 port 50123 ssh2: ED25519 SHA256:abc", "Failed password for admin from 10.0.0.5 port 50123 ssh2"],
      ["10.0.0.5:50123"],
    );
    expect(counted).to.deep.equal([]);
  });
});
