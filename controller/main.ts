import { loadConfigFile } from "../common/config.js";
import { describeError } from "../common/errors.js";
import { createLogger, type Logger } from "../common/log.js";
import { controllerConfigSchema } from "./config.js";
import { startController, type RunningController } from "./controller.js";
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
  const stopReloading = reloadOnHangup(controller, configPath, options.envFile, logger);

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
    await controller.close();
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

/**
 * SIGHUP re-reads the environment file and the config: a valid one is put in
 * force (streams stay up), an invalid one is logged and the running config
 * stays. Hangups during a reload are coalesced into one more reload.
 */
function reloadOnHangup(controller: RunningController, configPath: string, envFile: string | undefined, logger: Logger): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  let pending = false;
  let busy = false;
  const reload = async (): Promise<void> => {
    busy = true;
    do {
      pending = false;
      try {
        if (envFile) Object.assign(process.env, readEnvFile(envFile));
        const next = loadConfigFile(controllerConfigSchema, configPath);
        await controller.reload(next);
      } catch (err) {
        logger.error({ err: describeError(err), config: configPath }, `config reload refused; the running config stays: ${describeError(err)}`);
      }
    } while (pending);
    busy = false;
  };
  const onHangup = () => {
    logger.info({ config: configPath }, "SIGHUP: reloading the config");
    if (busy) {
      pending = true;
      return;
    }
    running = reload();
  };
  process.on("SIGHUP", onHangup);
  return async () => {
    process.off("SIGHUP", onHangup);
    await running;
  };
}
