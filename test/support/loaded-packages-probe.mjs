// Preloaded with --import: at exit, prints (to stderr, one JSON line) the
// npm packages whose CommonJS files were loaded, so that a test can check
// what a command loads.
import { createRequire } from "node:module";

const cache = createRequire(import.meta.url).cache;
process.on("exit", () => {
  const packages = new Set();
  for (const file of Object.keys(cache)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m) packages.add(m[1]);
  }
  process.stderr.write(`\nloaded-packages ${JSON.stringify([...packages].sort())}\n`);
});
