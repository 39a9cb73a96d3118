import { z } from "zod";

/** A label key: letters, digits, '_', '.', '-' (1-63 characters). */
export const LABEL_KEY = /^[A-Za-z0-9_.-]{1,63}$/;
/** A label value: letters, digits, '_', '.', ':', '/', '-' (0-63 characters). */
export const LABEL_VALUE = /^[A-Za-z0-9_.:/-]{0,63}$/;
/** The most labels one server carries. */
export const MAX_LABELS = 32;

/** Labels as written in a config: `{ team: db, env: prod }`. */
export function labelsSchema() {
  return z
    .record(z.string().regex(LABEL_KEY, "letters, digits, _ . - (1-63)"), z.string().regex(LABEL_VALUE, "letters, digits, _ . : / - (at most 63)"))
    .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
}

/** The labels of untrusted input (a Hello) that follow the rules, sorted by key; the others are dropped. */
export function cleanLabels(input: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(input)
    .filter(([key, value]) => LABEL_KEY.test(key) && typeof value === "string" && LABEL_VALUE.test(value))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, MAX_LABELS);
  return Object.fromEntries(entries);
}
