import { z } from "zod";

/** The `responders` section of the agent config (filled in with the responders). */
export const respondersConfigSchema = z.strictObject({}).default({});

export type RespondersConfig = z.output<typeof respondersConfigSchema>;
