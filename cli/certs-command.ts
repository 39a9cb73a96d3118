import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { relative } from "node:path";
import { SecarcError } from "../common/errors.js";
import { isValidAgentId } from "../common/ids.js";
import { revokeCertificateFile, revokeTarget, writeEmptyCrlFile } from "./certs/crl.js";
import { initCaFiles, issueAgentFiles, issueControllerFiles, pkiLayout, type WrittenCertificate } from "./certs/pki-files.js";
import { DEFAULT_CA_DAYS, DEFAULT_CERTIFICATE_DAYS, isDnsName } from "./certs/pki.js";
import { showFile } from "./certs/show.js";
import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

const USAGE = `Usage: secarc certs <init|issue|show|revoke> [options]

  secarc certs init [--dir DIR] [--days N] [--force]
      create a new certificate authority (ECDSA P-256, 10 years): ca.pem,
      ca-key.pem, and an empty crl.pem
  secarc certs issue controller --host NAME [--host NAME...] [--dir DIR] [--days N] [--force]
      issue the controller's server certificate for the DNS names and IP
      addresses agents use to reach it (the first becomes its CN)
  secarc certs issue agent NAME [--dir DIR] [--days N] [--force]
      issue an agent's client certificate; NAME (letters, digits, '.', '_',
      '-') becomes the agent's identity
  secarc certs show FILE [FILE...]
      print a certificate's subject, names, serial and expiry (warns within
      30 days of expiry), or the serials a crl.pem revokes
  secarc certs revoke NAME|FILE [--dir DIR]
      add agent NAME's certificate (DIR/agents/NAME.pem), or the one in
      FILE, to DIR/crl.pem; copied to the controller's tls.crl, it is
      picked up within seconds: that agent is refused and disconnected

Files in DIR:
  ca.pem, ca-key.pem                      the CA (keep ca-key.pem offline)
  controller.pem, controller-key.pem      the controller's certificate
  agents/NAME.pem, agents/NAME-key.pem    one certificate per agent
  crl.pem                                 revoked certificates
Private keys are written with mode 0600. Existing files are never
replaced without --force.

Options:
  -d, --dir DIR     where the CA and certificates live (default: current directory)
      --host NAME   a DNS name or IP address of the controller (repeatable)
      --days N      validity in days (default: ${DEFAULT_CERTIFICATE_DAYS}; ${DEFAULT_CA_DAYS} for init)
  -f, --force       replace existing files
  -h, --help        show this help
`;

const OPTIONS = {
  dir: { type: "string", short: "d" },
  host: { type: "string", multiple: true },
  days: { type: "string" },
  force: { type: "boolean", short: "f" },
} as const;

export interface CertsCommandDeps {
  /** Where results go. Default: standard output. */
  out?: (text: string) => void;
  /** The clock. Default: Date.now. */
  now?: () => number;
}

/** `secarc certs`: the SecARC PKI without openssl. */
export function createCertsCommand(deps: CertsCommandDeps = {}): Command {
  const out = deps.out ?? ((text: string) => void process.stdout.write(text));
  const clock = deps.now ?? Date.now;
  const print = (lines: string[]): void => out(lines.map((l) => `${l}\n`).join(""));

  return {
    name: "certs",
    summary: "create the CA, issue and revoke controller and agent certificates",
    usage: USAGE,
    async run(args) {
      const { values, positionals } = parseCommandLine("certs", args, OPTIONS);
      const [sub, ...rest] = positionals;
      const call: CertsCall = { values, rest, dir: values.dir ?? ".", now: new Date(clock()), force: values.force ?? false };
      switch (sub) {
        case "init":
          print(await certsInit(call));
          return 0;
        case "issue":
          print(await certsIssue(call));
          return 0;
        case "show":
          onlyFor(call, "show", "host", "days", "force", "dir");
          if (rest.length === 0) throw usageError("secarc certs show: missing FILE");
          print(rest.map((file) => showFile(file, call.now)).flatMap((lines, i) => (i === 0 ? lines : ["", ...lines])));
          return 0;
        case "revoke":
          print(await certsRevoke(call));
          return 0;
        case undefined:
          throw usageError("secarc certs: missing subcommand (init, issue, show or revoke)");
        default:
          throw usageError(`secarc certs: unknown subcommand "${sub}" (init, issue, show or revoke)`);
      }
    },
  };
}

type CertsValues = ReturnType<typeof parseCommandLine<typeof OPTIONS>>["values"];

/** One `secarc certs` command line, parsed. */
interface CertsCall {
  values: CertsValues;
  /** The arguments after the subcommand. */
  rest: string[];
  dir: string;
  now: Date;
  force: boolean;
}

function onlyFor(call: CertsCall, allowed: string, ...names: (keyof CertsValues)[]): void {
  for (const name of names) {
    if (call.values[name] !== undefined) throw usageError(`secarc certs: --${String(name)} is not an option of ${allowed}`);
  }
}

function noExtra(call: CertsCall, count: number, what: string): void {
  if (call.rest.length > count) throw usageError(`secarc certs ${what}: unexpected argument "${call.rest[count]}"`);
}

async function certsInit(call: CertsCall): Promise<string[]> {
  const { dir, now, force } = call;
  noExtra(call, 0, "init");
  onlyFor(call, "init", "host");
  const layout = pkiLayout(dir);
  const existing = [layout.caKey, layout.ca, layout.crl].filter((path) => existsSync(path));
  if (!force && existing.length > 0) throw new SecarcError("refused", `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; use --force to replace`);
  const ca = await initCaFiles(dir, { days: parseDays(call.values.days, DEFAULT_CA_DAYS), now, force });
  const crl = await writeEmptyCrlFile(dir, { now, force });
  return [...written(ca, dir), `wrote ${rel(crl, dir)} (revocation list, empty)`, `next: secarc certs issue controller --host NAME${dirFlag(dir)}`];
}

async function certsIssue(call: CertsCall): Promise<string[]> {
  const { dir, now, force } = call;
  const [kind, name] = call.rest;
  const days = parseDays(call.values.days, DEFAULT_CERTIFICATE_DAYS);
  if (kind === "controller") {
    noExtra(call, 1, "issue controller");
    const hosts = call.values.host ?? [];
    if (hosts.length === 0) throw usageError("secarc certs issue controller: give at least one --host NAME (a DNS name or IP address agents use)");
    for (const host of hosts) {
      if (!isIP(host) && !isDnsName(host)) throw usageError(`secarc certs issue controller: --host "${host}" is neither a DNS name nor an IP address`);
    }
    const cert = await issueControllerFiles(dir, { hosts, days, now, force });
    return [...written(cert, dir), `copy ${rel(pkiLayout(dir).ca, dir)}, ${rel(cert.certPath, dir)} and ${rel(cert.keyPath, dir)} to the controller host (tls.ca, tls.cert, tls.key)`];
  }
  if (kind === "agent") {
    noExtra(call, 2, "issue agent");
    onlyFor(call, "issue agent", "host");
    if (name === undefined) throw usageError("secarc certs issue agent: missing NAME");
    if (!isValidAgentId(name)) throw usageError(`secarc certs issue agent: "${name}" is not a valid agent name (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)`);
    const cert = await issueAgentFiles(dir, { name, days, now, force });
    return [...written(cert, dir), `copy ${rel(pkiLayout(dir).ca, dir)}, ${rel(cert.certPath, dir)} and ${rel(cert.keyPath, dir)} to the agent host "${name}" (tls.ca, tls.cert, tls.key)`];
  }
  throw usageError(kind === undefined ? "secarc certs issue: say what to issue: controller or agent" : `secarc certs issue: unknown kind "${kind}" (controller or agent)`);
}

async function certsRevoke(call: CertsCall): Promise<string[]> {
  onlyFor(call, "revoke", "host", "days", "force");
  if (call.rest.length === 0) throw usageError("secarc certs revoke: missing FILE or NAME (the certificate to revoke)");
  noExtra(call, 1, "revoke");
  const result = await revokeCertificateFile(call.dir, revokeTarget(call.dir, call.rest[0]!), call.now);
  return [
    result.alreadyRevoked ? `${result.subject} (serial ${result.serial}) was already revoked` : `revoked ${result.subject} (serial ${result.serial})`,
    `wrote ${result.crlPath} (${result.total} revoked); copy it to the controller host's tls.crl path: a running controller picks it up within seconds, no restart`,
  ];
}

export const certsCommand: Command = createCertsCommand();

function parseDays(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 36_500) {
    throw usageError(`secarc certs: --days must be a whole number of days from 1 to 36500 (got "${value}")`);
  }
  return Number(value);
}

function written(cert: WrittenCertificate, dir: string): string[] {
  return [
    `wrote ${rel(cert.certPath, dir)} (CN=${cert.commonName}, serial ${cert.serial}, valid until ${cert.notAfter.toISOString()})`,
    `wrote ${rel(cert.keyPath, dir)} (private key, mode 0600)`,
  ];
}

function rel(path: string, dir: string): string {
  return dir === "." ? relative(".", path) : path;
}

function dirFlag(dir: string): string {
  return dir === "." ? "" : ` --dir ${dir}`;
}
