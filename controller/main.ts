import { loadConfigFile } from "../common/config.js";
import { describeError } from "../common/errors.js";
import { createLogger } from "../common/log.js";
import { controllerConfigSchema } from "./config.js";
import { startController } from "./controller.js";

export interface RunControllerOptions {
  /** Signals that stop the controller. Default: SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[];
  /** Called once the controller listens, with its port (for tests and supervisors). */
  onStarted?: (port: number) => void;
}

/**
 * `secarc controller`: loads the config file (strictly validated), starts
 * the controller and runs it until SIGINT or SIGTERM, then stops it cleanly
 * (streams end with UNAVAILABLE so agents reconnect elsewhere or later,
 * pending writes are committed, the store is closed). Resolves to the exit
 * code; a config error throws (the CLI prints it and exits 1).
 */
export async function runController(configPath: string, options: RunControllerOptions = {}): Promise<number> {
  const config = loadConfigFile(controllerConfigSchema, configPath);
  const logger = createLogger({ level: config.log.level, format: config.log.format, name: "controller" });
  const controller = await startController({ config, logger });
  logger.info({ config: configPath, port: controller.port }, "controller started");
  options.onStarted?.(controller.port);

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
  try {
    await controller.close();
    return 0;
  } catch (err) {
    logger.error({ err: describeError(err) }, "the controller did not stop cleanly");
    return 1;
  }
}
