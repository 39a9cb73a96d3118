import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFakeBotApi, type FakeBotApi } from "../../testing/fake-bot-api.js";
import { createTestPki, type TestPki } from "./pki.js";

/** What useTelegramWorld provides; `dir` and `api` are fresh for every test. */
export interface TelegramWorld {
  readonly pki: TestPki;
  readonly dir: string;
  readonly api: FakeBotApi;
}

/**
 * The set-up shared by the system tests that run a controller against the
 * fake Bot API. Call inside a `describe`: it registers mocha hooks for a
 * test PKI for the suite and, per test, a temporary directory and a started
 * fake Bot API. `stopTest` runs first after each test (close the test's
 * agents and controller there); then the fake API stops and the directory
 * goes.
 */
export function useTelegramWorld(prefix: string, stopTest: () => Promise<void>): TelegramWorld {
  const world = {} as { pki: TestPki; dir: string; api: FakeBotApi };
  before(async () => {
    world.pki = await createTestPki();
  });
  after(() => world.pki.cleanup());
  beforeEach(async () => {
    world.dir = mkdtempSync(join(tmpdir(), prefix));
    world.api = createFakeBotApi();
    await world.api.start();
  });
  afterEach(async () => {
    await stopTest();
    await world.api.stop();
    rmSync(world.dir, { recursive: true, force: true });
  });
  return world;
}
