import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { createWriteBatcher } from "./write-batcher.js";
import { createWriteWindow } from "./write-window.js";

describe("createWriteWindow", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-window-"));
    store = openSqliteStore(join(dir, "c.db"));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has room until maxInFlight writes wait, then resumes once half of them have committed", async () => {
    const batcher = createWriteBatcher({ store, maxPerKey: 2 });
    const window = createWriteWindow({ batcher, key: "s", maxInFlight: 8 });
    const committed: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      void window.run(async () => committed.push(i));
      expect(window.room()).to.equal(undefined);
    }
    void window.run(async () => committed.push(7));
    const room = window.room();
    expect(room).to.be.instanceOf(Promise);
    await room;
    // Woken at 4 settled (half of 8), before the whole window committed.
    expect(committed.length).to.be.within(4, 7);
    await window.idle();
    expect(committed).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(window.room()).to.equal(undefined);
  });

  it("waits for its own writes while the batcher holds maxQueued writes of all streams", async () => {
    const batcher = createWriteBatcher({ store });
    const window = createWriteWindow({ batcher, key: "s", maxQueued: 3 });
    const others = [1, 2, 3].map((i) => batcher.run(async () => i, "other"));
    let mine = false;
    void window.run(async () => (mine = true));
    await window.room();
    expect(mine).to.equal(true);
    await Promise.all(others);
  });

  it("yields to the event loop after maxPerTurn messages in a row", async () => {
    const window = createWriteWindow({ batcher: createWriteBatcher({ store }), key: "s", maxPerTurn: 3 });
    let ticked = false;
    setImmediate(() => (ticked = true));
    expect(window.room()).to.equal(undefined);
    expect(window.room()).to.equal(undefined);
    const room = window.room();
    expect(room).to.be.instanceOf(Promise);
    await room;
    expect(ticked).to.equal(true);
    expect(window.room()).to.equal(undefined);
  });

  it("settles a failed write and still resumes the reader", async () => {
    const window = createWriteWindow({ batcher: createWriteBatcher({ store }), key: "s", maxInFlight: 2 });
    const failed = window.run(async () => {
      throw new Error("disk full");
    });
    void window.run(async () => 1);
    await failed.catch(() => undefined);
    await window.room();
    await window.idle();
    expect(window.room()).to.equal(undefined);
  });
});
