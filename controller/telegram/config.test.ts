import { expect } from "chai";
import { parseConfig } from "../../common/config.js";
import { resolveBotToken, telegramConfigSchema } from "./config.js";
import { en } from "./i18n/en.js";
import { translations } from "./i18n/translations.js";

describe("telegram config", () => {
  it("fills every default", () => {
    const config = parseConfig(telegramConfigSchema, {}, "test");
    expect(config).to.deep.include({ chats: [], allowedUsers: [], defaultLocale: "en", confirmTimeout: 30_000, defaultBlockDuration: 86_400_000, digestThreshold: 5 });
    expect(config.pace).to.deep.equal({ perChat: 1_000, perGroupPerMinute: 20, globalPerSecond: 30 });
  });

  it("parses chats with locales, ids as numbers or strings, and durations", () => {
    const config = parseConfig(telegramConfigSchema, { chats: [{ id: "-1001234567890", locale: "es" }, { id: 42 }], allowedUsers: ["77", 78], confirmTimeout: "10s", defaultBlockDuration: "1h" }, "test");
    expect(config.chats).to.deep.equal([{ id: -1001234567890, locale: "es" }, { id: 42 }]);
    expect(config.allowedUsers).to.deep.equal([77, 78]);
    expect(config.confirmTimeout).to.equal(10_000);
    expect(config.defaultBlockDuration).to.equal(3_600_000);
  });

  it("refuses unknown keys, unknown locales and bad values", () => {
    expect(() => parseConfig(telegramConfigSchema, { chat: [] }, "c.yaml")).to.throw(/chat: unknown key/);
    expect(() => parseConfig(telegramConfigSchema, { chats: [{ id: 1, locale: "fr" }] }, "c.yaml")).to.throw(/chats\.0\.locale/);
    expect(() => parseConfig(telegramConfigSchema, { pace: { perChat: "soon" } }, "c.yaml")).to.throw(/pace\.perChat/);
    expect(() => parseConfig(telegramConfigSchema, { apiRoot: "not a url" }, "c.yaml")).to.throw(/apiRoot/);
  });

  it("takes the token from the config, else from TELEGRAM_BOT_TOKEN", () => {
    const config = parseConfig(telegramConfigSchema, {}, "test");
    expect(resolveBotToken(config, {})).to.equal(undefined);
    expect(resolveBotToken(config, { TELEGRAM_BOT_TOKEN: "1:env" })).to.equal("1:env");
    expect(resolveBotToken({ ...config, token: "1:file" }, { TELEGRAM_BOT_TOKEN: "1:env" })).to.equal("1:file");
  });

  it("every language has every key of English", () => {
    const keys = (value: unknown, prefix = ""): string[] =>
      typeof value === "object" && value !== null ? Object.entries(value).flatMap(([k, v]) => keys(v, `${prefix}${k}.`)) : [`${prefix}${typeof value}`];
    for (const [name, table] of Object.entries(translations)) expect(keys(table), name).to.deep.equal(keys(en));
  });
});
