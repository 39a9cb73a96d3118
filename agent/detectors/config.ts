import { z } from "zod";

/** The `detectors` section of the agent config (filled in with the detectors). */
export const detectorsConfigSchema = z.strictObject({}).default({});

export type DetectorsConfig = z.output<typeof detectorsConfigSchema>;
