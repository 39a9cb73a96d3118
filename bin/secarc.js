#!/usr/bin/env node
// The `secarc` command. Runs the bundled build in dist/bundle/ when present
// (`npm run build`; fastest start), else the compiled dist/cli/, otherwise
// the TypeScript sources through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundled = fileURLToPath(new URL("../dist/bundle/secarc.js", import.meta.url));
const built = fileURLToPath(new URL("../dist/cli/secarc.js", import.meta.url));
let cli;
if (existsSync(bundled)) {
  cli = await import(bundled);
} else if (existsSync(built)) {
  cli = await import(built);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("../cli/secarc.ts");
}
const code = await cli.main(process.argv.slice(2));
process.exitCode = code;
