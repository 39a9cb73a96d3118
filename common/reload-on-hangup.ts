import { describeError } from "./errors.js";
import type { Logger } from "./log.js";

/**
 * SIGHUP runs `reload` (re-read the config and put it in force); a failure
 * is logged and the running config stays. Hangups during a reload are
 * coalesced into one more reload. Returns a function that stops listening
 * and waits for a reload in progress.
 */
export function reloadOnHangup(reload: () => Promise<void>, logger: Logger, configPath: string): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  let pending = false;
  let busy = false;
  const run = async (): Promise<void> => {
    busy = true;
    do {
      pending = false;
      try {
        await reload();
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
    running = run();
  };
  process.on("SIGHUP", onHangup);
  return async () => {
    process.off("SIGHUP", onHangup);
    await running;
  };
}
