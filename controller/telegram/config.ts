import { z } from "zod";

/** The `telegram` section of the controller config (filled in by the Telegram bridge). */
export const telegramConfigSchema = z.strictObject({
  /** Bot token from BotFather; or set TELEGRAM_BOT_TOKEN. Never logged. */
  token: z.string().optional(),
});

export type TelegramConfig = z.output<typeof telegramConfigSchema>;
