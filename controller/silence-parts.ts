import type { ControllerCore } from "./controller-parts.js";
import { createSilenceWatch, type SilenceWatch } from "./domain/silence-watch.js";
import { createWindowSchedule } from "./domain/silence-windows.js";
import { createSilenceHold, type SilenceHold } from "./telegram/silence-digest.js";

/**
 * Silences and maintenance windows, loaded from the store: the bridge holds
 * their alerts and posts a digest when one ends, the no-answer policy waits
 * for their end. `watch.start()` begins the checks once the bridge listens.
 */
export async function loadSilences(core: ControllerCore): Promise<{ watch: SilenceWatch; hold: SilenceHold }> {
  const { config, store, logger, now } = core;
  const watch = createSilenceWatch({
    store: store.silences,
    windows: config.silences.windows.map(createWindowSchedule),
    logger: logger.child({ component: "silences" }),
    now,
    checkEveryMs: config.silences.checkEvery,
  });
  core.stops.push(() => watch.stop());
  await watch.load();
  return { watch, hold: createSilenceHold(watch, core.labels.labelsOf) };
}
