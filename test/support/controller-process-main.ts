/**
 * A controller in a process of its own, for tests that kill it. Started by
 * test/support/controller-process.ts with a config file path; prints one
 * JSON line {"port", "pid"} on stdout once agents can connect, and stops
 * cleanly on SIGTERM or SIGINT.
 *
 * Test-only crash hook: with SECARC_TEST_CRASH_AFTER_STORE=1 in the
 * environment, the process kills itself with SIGKILL right after the first
 * alert is committed to the store and before its AlertAck is sent. This is
 * the one place the variable is read; the product never looks at it.
 *
 * Diagnostics: SIGUSR2 prints process.memoryUsage() (after a GC when the
 * process runs with --expose-gc) as a JSON line {"memory": ...} on stdout.
 */
import { loadConfigFile } from "../../common/config.js";
import { describeError } from "../../common/errors.js";
import { controllerConfigSchema } from "../../controller/config.js";
import { startController } from "../../controller/controller.js";

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write("usage: controller-process-main.ts CONFIG\n");
  process.exit(2);
}

try {
  const config = loadConfigFile(controllerConfigSchema, configPath);
  const crashAfterStore = process.env.SECARC_TEST_CRASH_AFTER_STORE === "1";
  const controller = await startController({
    config,
    ...(crashAfterStore ? { testHooks: { afterAlertStored: () => process.kill(process.pid, "SIGKILL") } } : {}),
  });
  process.stdout.write(`${JSON.stringify({ port: controller.port, pid: process.pid })}\n`);
  const stop = () => {
    void controller.close().then(
      () => process.exit(0),
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
