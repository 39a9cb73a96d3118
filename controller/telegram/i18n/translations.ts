import { en } from "./en.js";
import { es } from "./es.js";

/** The shape every language table has: English's keys and parameters. */
export type Translations = typeof en;

/** Every language the bridge speaks. A new language is one file plus one line here. */
export const translations = { en, es } as const satisfies Record<string, Translations>;

export type Locale = keyof typeof translations;

/** The locale names, for config validation. */
export const localeNames = Object.keys(translations) as [Locale, ...Locale[]];

/** The table of a locale. */
export function translationsFor(locale: Locale): Translations {
  return translations[locale];
}
