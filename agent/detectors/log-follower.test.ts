import { expect } from "chai";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLineSplitter } from "./line-splitter.js";
import { createLogFollower, type LogFollower } from "./log-follower.js";

/** Follows a real file in a temp dir and collects its lines. */
function follow(path: string, maxLineBytes = 16 * 1024) {
  const lines: string[] = [];
  const resets: string[] = [];
  const errors: unknown[] = [];
  const splitter = createLineSplitter((text, start, end) => lines.push(Buffer.from(text.slice(start, end), "latin1").toString("utf8")), maxLineBytes);
  const follower = createLogFollower({
    path,
    pollMs: 50,
    onData: (chunk) => splitter.push(chunk),
    onReset: (reason) => {
      resets.push(reason);
      splitter.reset();
    },
    onError: (err) => errors.push(err),
  });
  return { lines, resets, errors, splitter, follower };
}

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("log follower (real files)", () => {
  let dir: string;
  let follower: LogFollower | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-follow-"));
  });
  afterEach(async () => {
    await follower?.stop();
    follower = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts at the end: old lines are not replayed, new ones arrive", async () => {
    const path = join(dir, "access.log");
    writeFileSync(path, "old 1\nold 2\n");
    const f = follow(path);
    follower = f.follower;
    await follower.start();
    appendFileSync(path, "new 1\nnew 2\n");
    await until(() => f.lines.length === 2, "two new lines");
    expect(f.lines).to.deep.equal(["new 1", "new 2"]);
  });

  it("holds a partial line until its newline arrives", async () => {
    const path = join(dir, "access.log");
    writeFileSync(path, "");
    const f = follow(path);
    follower = f.follower;
    await follower.start();
    appendFileSync(path, "first half, ");
    await follower.poll();
    expect(f.lines).to.deep.equal([]);
    appendFileSync(path, "second half\n");
    await until(() => f.lines.length === 1, "the joined line");
    expect(f.lines).to.deep.equal(["first half, second half"]);
  });

  it("survives rotation by rename + new file: reads the old file to its end, then the new one from its start", async () => {
    const path = join(dir, "access.log");
    writeFileSync(path, "");
    const f = follow(path);
    follower = f.follower;
    await follower.start();
    appendFileSync(path, "a\n");
    await until(() => f.lines.length === 1, "line a");
    appendFileSync(path, "b\n"); // written just before rotation
    renameSync(path, join(dir, "access.log.1"));
    writeFileSync(path, "c\nd\n");
    await until(() => f.lines.length === 4, "lines b, c, d");
    expect(f.lines).to.deep.equal(["a", "b", "c", "d"]);
    expect(f.resets).to.deep.equal(["rotated"]);
    appendFileSync(path, "e\n");
    await until(() => f.lines.length === 5, "line e in the new file");
  });

  it("survives truncation in place (copytruncate): restarts at offset 0", async () => {
    const path = join(dir, "access.log");
    writeFileSync(path, "");
    const f = follow(path);
    follower = f.follower;
    await follower.start();
    appendFileSync(path, "a long line before the truncation\n");
    await until(() => f.lines.length === 1, "first line");
    truncateSync(path, 0);
    appendFileSync(path, "x\n");
    await until(() => f.lines.length === 2, "line after truncation");
    expect(f.lines[1]).to.equal("x");
    expect(f.resets).to.deep.equal(["truncated"]);
  });

  it("waits for a missing file and reads it from the start once it appears", async () => {
    const path = join(dir, "later.log");
    const f = follow(path);
    follower = f.follower;
    await follower.start();
    writeFileSync(path, "hello\n");
    await until(() => f.lines.length === 1, "the line of the new file");
    expect(f.lines).to.deep.equal(["hello"]);
    expect(f.errors).to.deep.equal([]);
  });

  it("cuts a 100 KB line at the cap, counts it, and keeps the next line intact", async () => {
    const path = join(dir, "access.log");
    writeFileSync(path, "");
    const f = follow(path, 1024);
    follower = f.follower;
    await follower.start();
    appendFileSync(path, `${"A".repeat(100_000)}\nnext\n`);
    await until(() => f.lines.length === 2, "two lines");
    expect(f.lines[0]).to.equal("A".repeat(1024));
    expect(f.lines[1]).to.equal("next");
    expect(f.splitter.oversized).to.equal(1);
    expect(f.splitter.discardedBytes).to.equal(100_000 - 1024);
  });
});
