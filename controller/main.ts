import { loadConfigFile } from "../common/config.js";
import { describeError } from "../common/errors.js";
import { createLogger } from "../common/log.js";
import { reloadOnHangup } from "../common/reload-on-hangup.js";
import { controllerConfigSchema } from "./config.js";
import { startController } from "./controller.js";
import { readEnvFile } from "./env-file.js";

export interface RunControllerOptions {
  /** Signals that stop the controller. Default: SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[];
  /** Called once the controller listens, with its port (for tests and supervisors). */
  onStarted?: (port: number) => void;
  /** An environment file (TELEGRAM_BOT_TOKEN=...) read at start and on every SIGHUP. Default: none. */
  envFile?: string;
  /** Accept a 0-byte store file as a new store (--init). */
  init?: boolean;
}

/**
 * `secarc controller`: loads the config file (strictly validated), starts
 * the controller and runs it until SIGINT or SIGTERM, then stops it cleanly
 * (streams end with UNAVAILABLE so agents reconnect elsewhere or later,
 * pending writes are committed, the store is closed). SIGHUP reloads the
 * config (and the environment file). Resolves to the exit code; a config
 * error at start throws (the CLI prints it and exits 1).
 */
export async function runController(configPath: string, options: RunControllerOptions = {}): Promise<number> {
  if (options.envFile) Object.assign(process.env, readEnvFile(options.envFile));
  const config = loadConfigFile(controllerConfigSchema, configPath);
  const logger = createLogger({ level: config.log.level, format: config.log.format, name: "controller" });
  const controller = await startController({ config, logger, initStore: options.init ?? false });
  logger.info({ config: configPath, port: controller.port }, "controller started");
  options.onStarted?.(controller.port);
  const envFile = options.envFile;
  const stopReloading = reloadOnHangup(
    async () => {
      if (envFile) Object.assign(process.env, readEnvFile(envFile));
      await controller.reload(loadConfigFile(controllerConfigSchema, configPath));
    },
    logger,
    configPath,
  );

  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const handlers = signals.map((name) => {
      const handler = () => {
        for (const [n, h] of handlers) process.off(n, h);
        resolve(name);
      };
      process.on(name, handler);
      return [name, handler] as const;
    });
  });
  logger.info({ signal }, "stopping the controller");
  // Below the units' TimeoutStopSec (20 s): a stop that hangs ends here, not in systemd's SIGKILL.
  const deadline = setTimeout(() => {
    logger.error({ deadlineMs: STOP_DEADLINE_MS }, "the controller did not stop within its deadline; exiting");
    process.exit(1);
  }, STOP_DEADLINE_MS);
  deadline.unref();
  let code = 0;
  try {
    await stopReloading();
    // The process exits right after: connections are left to the exit.
    await controller.close({ exiting: true });
  } catch (err) {
    logger.error({ err: describeError(err) }, "the controller did not stop cleanly");
    code = 1;
  }
  clearTimeout(deadline);
  exitSoon(code);
  return code;
}

/** How long a stop may take before the process exits anyway. */
export const STOP_DEADLINE_MS = 15_000;

/**
 * Everything the controller owns is stopped, but a library may still hold a
 * timer: telegraf's getUpdates goes through node-fetch with a 500 s body
 * timeout that an abort does not clear. The process exits a moment after
 * the stop (the log flushed) instead of waiting for it; the timer is unref'd,
 * so a process with nothing left exits at once by itself.
 */
function exitSoon(code: number): void {
  setTimeout(() => process.exit(code), 250).unref();
}
