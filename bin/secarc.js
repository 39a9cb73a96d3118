#!/usr/bin/env node
// The `secarc` command. Runs the compiled build in dist/ when present
// (`npm run build`), otherwise the TypeScript sources through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = fileURLToPath(new URL("../dist/cli/secarc.js", import.meta.url));
let cli;
if (existsSync(built)) {
  cli = await import(built);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("../cli/secarc.ts");
}
const code = await cli.main(process.argv.slice(2));
process.exitCode = code;
