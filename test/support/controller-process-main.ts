/**
 * A controller in a process of its own, for tests that kill it. Started by
 * test/support/controller-process.ts with a config file path; prints one
 * JSON line {"port", "pid"} on stdout once agents can connect, and stops
 * cleanly on SIGTERM or SIGINT.
 *
 * Test-only crash hook: with SECARC_TEST_CRASH_AFTER_STORE=1 in the
 * environment, the process kills itself with SIGKILL right after the first
 * alert is committed to the store and before its AlertAck is sent: the
 * controller is given an event bus whose first listener (ahead of the
 * controller's own) dies at the first stored alert, which the link
 * publishes after the commit and before the ack. This is the one place the
 * variable is read; the product never looks at it.
 *
 * Diagnostics: SIGUSR2 prints process.memoryUsage() (after a GC when the
 * process runs with --expose-gc) as a JSON line {"memory": ...} on stdout;
 * after a clean stop, {"closedInMs": ...} says how long the close took.
 */
import { loadConfigFile } from "../../common/config.js";
import { describeError } from "../../common/errors.js";
import { controllerConfigSchema } from "../../controller/config.js";
import { startController } from "../../controller/controller.js";
import { createEventBus } from "../../controller/domain/events.js";

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write("usage: controller-process-main.ts CONFIG\n");
  process.exit(2);
}

try {
  const config = loadConfigFile(controllerConfigSchema, configPath);
  const crashAfterStore = process.env.SECARC_TEST_CRASH_AFTER_STORE === "1";
  const events = createEventBus((err) => process.stderr.write(`an event listener failed: ${describeError(err)}\n`));
  if (crashAfterStore) {
    events.subscribe((event) => {
      // The link publishes an agent's alert after its commit, before the ack. (The controller's own
      // alerts — offline, blind — come only after a disconnect or a blind source, later than the
      // first agent alert in the tests that crash.)
      if (event.type === "alert" && event.outcome === "inserted") process.kill(process.pid, "SIGKILL");
    });
  }
  const controller = await startController({ config, events });
  process.stdout.write(`${JSON.stringify({ port: controller.port, pid: process.pid })}\n`);
  const stop = () => {
    const stopping = performance.now();
    // As `secarc controller` does: the process exits right after.
    void controller.close({ exiting: true }).then(
      () => {
        // How long its own close took, for benchmarks that time a restart from outside.
        process.stdout.write(`${JSON.stringify({ closedInMs: Math.round(performance.now() - stopping) })}\n`, () => process.exit(0));
      },
      (err: unknown) => {
        process.stderr.write(`stop failed: ${describeError(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    process.stdout.write(`${JSON.stringify({ memory: process.memoryUsage() })}\n`);
  });
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  process.stderr.write(`controller failed to start: ${describeError(err)}\n`);
  process.exit(1);
}
