import { loadConfigFile } from "../common/config.js";
import { createLogger } from "../common/log.js";
import { reloadOnHangup } from "../common/reload-on-hangup.js";
import { startAgent } from "./agent.js";
import { agentConfigSchema } from "./config.js";
import { anyBlind, checkDetectors, formatDetectorCheck } from "./detector-check.js";

/**
 * The agent's composition root: loads the config file, starts the agent and
 * runs until SIGINT or SIGTERM, then stops it gracefully; SIGHUP reloads
 * the config (detectors; an invalid file is refused). Resolves to the
 * process exit code.
 */
export async function runAgent(configPath: string): Promise<number> {
  const config = loadConfigFile(agentConfigSchema, configPath);
  const logger = createLogger({ level: config.log.level, format: config.log.format, name: "agent" });
  const agent = await startAgent({ config, logger });
  // SIGHUP: detector thresholds and windows from the file again; the link stays up.
  const stopReloading = reloadOnHangup(async () => void (await agent.reload(loadConfigFile(agentConfigSchema, configPath))), logger, configPath);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  logger.info({ signal }, "stopping");
  await stopReloading();
  await agent.close();
  return 0;
}

/** `secarc agent --check`: prints each detector's source; exit code 1 when one sees nothing. */
export async function checkAgent(configPath: string): Promise<number> {
  const config = loadConfigFile(agentConfigSchema, configPath);
  const results = await checkDetectors({ config });
  process.stdout.write(formatDetectorCheck(results));
  return anyBlind(results) ? 1 : 0;
}
