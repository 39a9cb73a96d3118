import { readFileSync } from "node:fs";
import { parseYaml } from "./yaml-lazy.js";
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { SecarcError, describeError } from "./errors.js";

/**
 * Config files are YAML (JSON is valid YAML). Loading happens in two phases:
 * a strict parse against a schema (unknown keys are errors, no I/O beyond
 * reading the file), then runtime checks done by whoever uses the values.
 */

/** A duration written as "30s", "5m", "24h" or a number of seconds; parsed to milliseconds. */
export function durationMs() {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: describeError(err) });
      return z.NEVER;
    }
  });
}

/** Formats zod issues as "key.path: message" lines. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      if (issue.code === "unrecognized_keys") {
        const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
        return issue.keys.map((key) => `${prefix}${key}: unknown key`).join("\n");
      }
      return `${path}: ${issue.message}`;
    })
    .join("\n");
}

/** Validates an already-parsed value against a schema, naming every bad key. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new SecarcError("config_invalid", `invalid config ${source}:\n${formatIssues(result.error)}`);
  }
  return result.data;
}

/** Reads a YAML or JSON config file and validates it strictly. */
export function loadConfigFile<S extends z.ZodType>(schema: S, path: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SecarcError("config_unreadable", `cannot read config ${path}: ${describeError(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new SecarcError("config_invalid", `config ${path} is not valid YAML or JSON: ${describeError(err)}`, { cause: err });
  }
  return parseConfig(schema, value, path);
}
