import type { Command } from "./command.js";
import { parseCommandLine } from "./command.js";

export const certsCommand: Command = {
  name: "certs",
  summary: "create the CA and issue controller and agent certificates",
  usage: `Usage: secarc certs <init|issue|show> [options]

  secarc certs init [--dir DIR]
      create a new certificate authority (ca.pem, ca-key.pem) in DIR
  secarc certs issue controller --host NAME [--host NAME...] [--dir DIR]
      issue the controller's server certificate for the given DNS names / IPs
  secarc certs issue agent NAME [--dir DIR]
      issue an agent's client certificate; NAME becomes the agent's identity
  secarc certs show FILE
      print a certificate's subject, names and expiry

Options:
  -d, --dir DIR     where the CA and certificates live (default: current directory)
      --days N      validity of an issued certificate in days (default: 397)
  -h, --help        show this help
`,
  async run(args) {
    parseCommandLine("certs", args, { dir: { type: "string", short: "d" }, host: { type: "string", multiple: true }, days: { type: "string" } });
    throw new Error("not available in this build yet");
  },
};
