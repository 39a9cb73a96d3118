import { createRequire } from "node:module";

type YamlParse = (typeof import("yaml"))["parse"];
let parse: YamlParse | undefined;

/**
 * yaml's parse, loaded on first use: commands that read no config file
 * (`secarc --help`, `secarc replay` without --config) start without it.
 */
export function parseYaml(text: string): unknown {
  parse ??= (createRequire(import.meta.url)("yaml") as typeof import("yaml")).parse;
  return parse(text);
}
