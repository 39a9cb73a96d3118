import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { silentLogger } from "../../common/log.js";
import { testControllerConfig } from "../../test/support/controller-harness.js";
import { createTestPki, type TestPki } from "../../test/support/pki.js";
import { startController, type RunningController } from "../controller.js";
import { sampleAlert } from "../../testing/alert-fixtures.js";
import { createFakeBotApi, type FakeBotApi } from "../../testing/fake-bot-api.js";

/**
 * The metrics as the controller wires them: a running controller with the
 * metrics endpoint on a loopback port and the Telegram bridge on the fake Bot
 * API, which is told to answer HTTP 429.
 */

const CHAT = 1001;

describe("controller metrics wired to the Telegram bridge", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let dir: string;
  let api: FakeBotApi;
  let controller: RunningController | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-metrics-wiring-"));
    api = createFakeBotApi();
    await api.start();
    controller = await startController({
      config: testControllerConfig(pki, dir, {
        metrics: { listen: { host: "127.0.0.1", port: 0 } },
        telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [77], pace: { perChat: "50ms" } },
      }),
      logger: silentLogger(),
    });
  });
  afterEach(async () => {
    await controller?.close();
    controller = undefined;
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One sample of the text format: `name value` or `name{labels} value`. */
  async function scrape(name: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${controller!.metricsPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  }

  /** An alert stored and announced as the link does it. */
  async function raise(): Promise<void> {
    const c = controller!;
    await c.store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [Answer.BLOCK_IP, Answer.IGNORE], detectors: [], at: new Date() });
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const stored = (await c.store.upsertAlert("web-1", alert, new Date()));
    c.events.publish({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: stored.outcome === "unchanged" ? "updated" : stored.outcome });
  }

  it("a 429 from the Bot API moves the 429 counter; the queue depth shows the waiting send, then 0", async () => {
    expect(controller!.metricsPort).to.be.a("number").and.above(0);
    expect(await scrape("secarc_telegram_rate_limited_total")).to.equal(0);
    api.failNext(1, { retryAfter: 3, methods: ["sendMessage"] });
    await raise();
    await api.waitFor(() => api.calls.some((c) => c.method === "sendMessage" && c.status === 429), 5_000);
    // The send waits out retry_after (3 s) in the queue.
    const deadline = Date.now() + 2_000;
    let counted: number | undefined;
    let depth: number | undefined;
    while (Date.now() < deadline && api.messagesIn(CHAT).length === 0) {
      counted = await scrape("secarc_telegram_rate_limited_total");
      depth = await scrape("secarc_telegram_queue_depth");
      if (counted === 1 && depth === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect({ counted, depth }).to.deep.equal({ counted: 1, depth: 1 });
    expect(api.messagesIn(CHAT)).to.have.length(0);

    await api.waitFor(() => api.messagesIn(CHAT).length === 1 || undefined, 10_000);
    const drained = Date.now() + 5_000;
    while (Date.now() < drained && (await scrape("secarc_telegram_queue_depth")) !== 0) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await scrape("secarc_telegram_queue_depth")).to.equal(0);
    expect(await scrape("secarc_telegram_rate_limited_total")).to.equal(1);
    expect(await scrape("secarc_alerts_total{kind=\"http_404_burst\",severity=\"critical\"}")).to.equal(1);
  });

  it("without a 429 the counter stays at 0", async () => {
    await raise();
    await api.waitFor(() => api.messagesIn(CHAT).length === 1 || undefined, 10_000);
    expect(await scrape("secarc_telegram_rate_limited_total")).to.equal(0);
  });

  it("the link's admission of connections is in the metrics: none opening, none refused, the starting limit", async () => {
    expect(await scrape("secarc_link_connections_opening")).to.equal(0);
    expect(await scrape("secarc_link_connections_refused_total")).to.equal(0);
    // A fifth of link.maxOpeningConnections (500 by default).
    expect(await scrape("secarc_link_opening_limit")).to.equal(100);
    expect(await scrape('secarc_link_tls_handshakes_total{resumed="false"}')).to.equal(0);
    expect(await scrape('secarc_link_tls_handshakes_total{resumed="true"}')).to.equal(0);
  });
});
