import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCrl } from "../cli/certs/crl.js";
import { createCa, issueAgentCertificate, loadCa } from "../cli/certs/pki.js";
import { x509 } from "../cli/certs/x509.js";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import { isIP, type AddressInfo } from "node:net";
import { createTestPki, type CertPaths, type TestPki } from "./support/pki.js";

/**
 * Real TLS handshakes on loopback with certificates from the test PKI
 * (the same code as `secarc certs`): what the controller accepts and refuses.
 */

interface Outcome {
  ok: boolean;
  /** The client certificate's CN as the server saw it. */
  peer?: string;
  error?: string;
}

describe("certificates in real TLS handshakes", function () {
  let pki: TestPki;
  let agent: CertPaths;

  before(async function () {
    pki = await createTestPki();
    agent = await pki.issueAgent("web-1");
  });
  after(() => pki.cleanup());

  /** A TLS server configured like the controller; resolves to the address and the last handshake the server saw. */
  async function startServer(crl?: string): Promise<{ server: Server; port: number; seen: Outcome[] }> {
    const seen: Outcome[] = [];
    const server = createServer({
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.controller.cert),
      key: readFileSync(pki.controller.key),
      requestCert: true,
      rejectUnauthorized: true,
      ...(crl ? { crl: readFileSync(crl) } : {}),
    });
    server.on("secureConnection", (socket: TLSSocket) => {
      seen.push({ ok: true, peer: socket.getPeerCertificate().subject.CN as string });
      socket.end("hello\n");
    });
    server.on("tlsClientError", (err) => seen.push({ ok: false, error: err.message }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { server, port: (server.address() as AddressInfo).port, seen };
  }

  /** Connects as an agent would and waits for the server's greeting or an error. */
  function handshake(port: number, client: CertPaths | undefined, ca = pki.ca, servername = "localhost", host = "127.0.0.1"): Promise<Outcome> {
    return new Promise((resolve) => {
      const socket = connect({
        host,
        port,
        // An IP address is not a TLS server name (RFC 6066): Node then checks the IP SANs against host.
        ...(isIP(servername) ? {} : { servername }),
        ca: readFileSync(ca),
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
      });
      const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), 5000);
      let finished = false;
      function finish(outcome: Outcome): void {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      }
      socket.on("data", (data) => finish(data.toString() === "hello\n" ? { ok: true } : { ok: false, error: `unexpected ${data.toString()}` }));
      socket.on("error", (err) => finish({ ok: false, error: err.message }));
      socket.on("close", () => finish({ ok: false, error: "closed" }));
    });
  }

  it("accepts an agent certificate from the CA, and the server sees the agent name", async function () {
    const { server, port, seen } = await startServer();
    try {
      const outcome = await handshake(port, agent);
      expect(outcome).to.deep.equal({ ok: true });
      expect(seen).to.deep.equal([{ ok: true, peer: "web-1" }]);
    } finally {
      server.close();
    }
  });

  it("lets the agent reach the controller by every SAN (localhost, 127.0.0.1, ::1)", async function () {
    const { server, port } = await startServer();
    try {
      expect(await handshake(port, agent, pki.ca, "127.0.0.1")).to.deep.equal({ ok: true });
      expect(await handshake(port, agent, pki.ca, "localhost")).to.deep.equal({ ok: true });
    } finally {
      server.close();
    }
    const v6 = createServer({ ca: readFileSync(pki.ca), cert: readFileSync(pki.controller.cert), key: readFileSync(pki.controller.key), requestCert: true, rejectUnauthorized: true }, (s) => s.end("hello\n"));
    await new Promise<void>((resolve) => v6.listen(0, "::1", resolve));
    try {
      const port6 = (v6.address() as AddressInfo).port;
      expect(await handshake(port6, agent, pki.ca, "::1", "::1")).to.deep.equal({ ok: true });
    } finally {
      v6.close();
    }
  });

  it("makes the agent refuse a controller name the certificate does not carry", async function () {
    const { server, port } = await startServer();
    try {
      const outcome = await handshake(port, agent, pki.ca, "controller.example");
      expect(outcome.ok).to.equal(false);
      expect(outcome.error).to.match(/altnames|Hostname/i);
    } finally {
      server.close();
    }
  });

  it("refuses a client without a certificate", async function () {
    const { server, port, seen } = await startServer();
    try {
      expect((await handshake(port, undefined)).ok).to.equal(false);
      expect(seen.filter((s) => s.ok)).to.deep.equal([]);
    } finally {
      server.close();
    }
  });

  it("refuses an agent certificate signed by another CA", async function () {
    const { server, port, seen } = await startServer();
    try {
      expect((await handshake(port, pki.foreign.agent)).ok).to.equal(false);
      expect((await handshake(port, await pki.foreign.issueAgent("web-1"))).ok).to.equal(false);
      expect(seen.filter((s) => s.ok)).to.deep.equal([]);
    } finally {
      server.close();
    }
  });

  it("makes the agent refuse a controller whose certificate is not from its CA", async function () {
    const { server, port } = await startServer();
    try {
      const outcome = await handshake(port, agent, pki.foreign.ca);
      expect(outcome.ok).to.equal(false);
      expect(outcome.error).to.match(/certificate/i);
    } finally {
      server.close();
    }
  });

  it("refuses an expired agent certificate", async function () {
    const { server, port, seen } = await startServer();
    try {
      expect((await handshake(port, await pki.issueAgent("old-1", { expired: true }))).ok).to.equal(false);
      expect(seen.filter((s) => s.ok)).to.deep.equal([]);
    } finally {
      server.close();
    }
  });

  it("with tls.crl, refuses a revoked agent certificate and still accepts the others", async function () {
    const revoked = await pki.issueAgent("lost-1");
    const other = await pki.issueAgent("web-2");
    // Before revocation, with a CRL that lists someone else, the certificate is accepted.
    const decoy = await pki.issueAgent("decoy");
    const firstCrl = await pki.revoke(decoy.cert);
    let { server, port } = await startServer(firstCrl);
    try {
      expect(await handshake(port, revoked)).to.deep.equal({ ok: true });
      expect((await handshake(port, decoy)).ok).to.equal(false);
    } finally {
      server.close();
    }
    const crl = await pki.revoke(revoked.cert);
    ({ server, port } = await startServer(crl));
    try {
      expect((await handshake(port, revoked)).ok).to.equal(false);
      expect((await handshake(port, decoy)).ok).to.equal(false);
      expect(await handshake(port, other)).to.deep.equal({ ok: true });
      expect(await handshake(port, agent)).to.deep.equal({ ok: true });
    } finally {
      server.close();
    }
  });

  it("accepts every valid agent with the empty CRL of secarc certs init, and refuses everyone with a stale CRL", async function () {
    const crls = mkdtempSync(join(tmpdir(), "secarc-crl-"));
    try {
      const ca = { cert: readFileSync(pki.ca, "utf8"), key: readFileSync(pki.caKey, "utf8") };
      const fresh = join(crls, "fresh.pem");
      writeFileSync(fresh, await createCrl(ca, []));
      let { server, port } = await startServer(fresh);
      try {
        expect(await handshake(port, agent)).to.deep.equal({ ok: true });
      } finally {
        server.close();
      }
      // What would happen if crl.pem carried a short nextUpdate that then passed.
      const authority = await loadCa(ca);
      const stale = await x509.X509CrlGenerator.create({
        issuer: authority.cert.subjectName,
        thisUpdate: new Date(Date.now() - 10 * 86_400_000),
        nextUpdate: new Date(Date.now() - 86_400_000),
        signingKey: authority.key,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        entries: [],
      });
      const stalePath = join(crls, "stale.pem");
      writeFileSync(stalePath, x509.PemConverter.encode(stale.rawData, "X509 CRL"));
      ({ server, port } = await startServer(stalePath));
      try {
        expect((await handshake(port, agent)).ok).to.equal(false);
      } finally {
        server.close();
      }
    } finally {
      rmSync(crls, { recursive: true, force: true });
    }
  });

  it("during a CA change, checks each CA's clients against that CA's CRL when the CRLs are given as separate entries", async function () {
    const ca = { cert: readFileSync(pki.ca, "utf8"), key: readFileSync(pki.caKey, "utf8") };
    const next = await createCa({ commonName: "SecARC next CA" });
    const nextAgent = await issueAgentCertificate(next, { name: "web-9" });
    const lost = await pki.issueAgent("lost-9");
    const crls = [await createCrl(ca, [{ serial: new X509Certificate(readFileSync(lost.cert)).serialNumber.toLowerCase(), date: new Date() }]), await createCrl(next, [])];
    const dir = mkdtempSync(join(tmpdir(), "secarc-next-"));
    const nextPaths = { cert: join(dir, "web-9.pem"), key: join(dir, "web-9-key.pem") };
    writeFileSync(nextPaths.cert, nextAgent.cert);
    writeFileSync(nextPaths.key, nextAgent.key, { mode: 0o600 });
    const listen = async (crl: string | string[]) => {
      const server = createServer({ ca: ca.cert + next.cert, cert: readFileSync(pki.controller.cert), key: readFileSync(pki.controller.key), requestCert: true, rejectUnauthorized: true, crl }, (socket) => socket.end("hello\n"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return { server, port: (server.address() as AddressInfo).port };
    };
    try {
      // One entry per CRL: both CAs' agents are checked against their own list.
      let { server, port } = await listen(crls);
      try {
        expect(await handshake(port, agent)).to.deep.equal({ ok: true });
        expect(await handshake(port, nextPaths)).to.deep.equal({ ok: true });
        expect((await handshake(port, lost)).ok).to.equal(false);
      } finally {
        server.close();
      }
      // Node reads only the first CRL of one PEM string: the second CA's agents then have no CRL and are refused.
      ({ server, port } = await listen(crls.join("")));
      try {
        expect(await handshake(port, agent)).to.deep.equal({ ok: true });
        expect((await handshake(port, nextPaths)).ok).to.equal(false);
      } finally {
        server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tells a server that checks authorization itself why a client certificate was refused", async function () {
    // With rejectUnauthorized: true Node drops the connection without saying why;
    // a controller that wants to log the reason checks socket.authorized itself.
    const revoked = await pki.issueAgent("stolen-1");
    const crl = await pki.revoke(revoked.cert);
    const reasons: string[] = [];
    const server = createServer(
      { ca: readFileSync(pki.ca), cert: readFileSync(pki.controller.cert), key: readFileSync(pki.controller.key), requestCert: true, rejectUnauthorized: false, crl: readFileSync(crl) },
      (socket) => {
        if (socket.authorized) {
          reasons.push("ok");
          socket.end("hello\n");
        } else {
          reasons.push(String((socket.authorizationError as unknown as { code?: string })?.code ?? socket.authorizationError));
          socket.destroy();
        }
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await handshake(port, agent)).to.deep.equal({ ok: true });
      expect((await handshake(port, revoked)).ok).to.equal(false);
      expect((await handshake(port, await pki.issueAgent("old-2", { expired: true }))).ok).to.equal(false);
      expect((await handshake(port, pki.foreign.agent)).ok).to.equal(false);
      expect((await handshake(port, undefined)).ok).to.equal(false);
      expect(reasons.slice(0, 4)).to.deep.equal(["ok", "CERT_REVOKED", "CERT_HAS_EXPIRED", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"]);
      expect(reasons[4]).to.match(/UNABLE_TO_GET_ISSUER_CERT|NO_PEER_CERT|peer did not return a certificate/i);
    } finally {
      server.close();
    }
  });
});
