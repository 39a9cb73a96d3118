import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { expect } from "chai";
import type { AgentConfigInput } from "../agent/config.js";
import { decodeCallback } from "../controller/telegram/callback-data.js";
import { AlertKind, AlertSchema } from "../gen/secarc/v1/alert_pb.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { prepareAgentHost, readHostedExecutions, startAgentHost, type AgentHost, type AgentHostOptions, type EmittedAlert, type HostedAgentStatus } from "./support/agent-host.js";
import { useReplicaFleet, type ProcessReplica } from "./support/replica-fleet.js";
import { alertMessageProblems, type AlertShown } from "./support/alert-messages.js";
import { button, CHAT, OPERATOR } from "./support/telegram-harness.js";

/** link.offlineAlertAfter of both replicas: longer than the killed agents take to come back (a fresh process starting 25 agents on a loaded machine). */
const GRACE_MS = 20_000;
const AGENTS_PER_HOST = 25;
/** Agents of the killed host that are not started again: they, and only they, must be reported offline. */
const STAY_AWAY = 2;
/** Rounds of the flood (one alert per live agent each) before the kill, and after it. */
const ROUNDS_BEFORE = 4;
const ROUNDS_AFTER = 4;
const ROUND_EVERY_MS = 300;
/** Every TAP_EVERY-th alert is answered (Block IP). */
const TAP_EVERY = 3;

/**
 * What the message of an alert of this test says at the end, and whether it
 * still offers Block IP, given the agents that are away then: an action not
 * carried out reads "sent" while its agent is connected and "queued" while
 * it is not — also one written to its stream as the agent died (state sent).
 */
function trueState(away: readonly string[]): (alert: AlertShown) => { says: string; offersBlock?: boolean } {
  return (alert) => {
    if (alert.kind === AlertKind.AGENT_OFFLINE) return { says: "offline since" };
    if (alert.actionState === undefined) return { says: "", offersBlock: true };
    const waiting = away.includes(alert.agentId) ? "queued: server offline" : "sent to the server, waiting for its result";
    const says = { done: "done: recorded BLOCK_IP", failed: "failed: ", pending: waiting, sent: waiting }[alert.actionState];
    return { says: says ?? `(action ${alert.actionState})`, offersBlock: false };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue 15 acceptance 2: two replicas (processes) on one PostgreSQL and one
 * (fake) bot, 50 real agents in two host processes (25 each, every agent
 * listing both replicas), an alert flood and taps in flight — the operator
 * presses Block IP under every third alert's message, as callback queries
 * for whichever replica polls getUpdates; then kill -9 of the replica
 * holding the Telegram lease and of one agent host (half the agents) at
 * once. The killed host is started again (same state directories and
 * journals) without two of its agents, which stay away.
 *
 * Every alert is stored once and shown in exactly one message (a send in
 * flight at the kill may reach Telegram unrecorded: the survivor sends it
 * again, marked as a possible repeat — Telegram has no idempotency key);
 * every tap makes one action, executed exactly once (counted at the
 * agents' recording responders, across the host's death); the lease moves
 * to the survivor within 20 s; only the agents that stayed away are
 * reported offline; every message ends in its alert's true state.
 */
describe("replicas on PostgreSQL: kill -9 of the lease holder and half the agents during a flood", function () {
  this.timeout(300_000);
  const fleets = useReplicaFleet("secarc-fleet-kill-");
  const hosts = new Set<{ kill(): Promise<void> }>();
  let api: FakeBotApi | undefined;
  /** What happened when, printed when the test fails. */
  const timeline: string[] = [];
  let startedAt = Date.now();
  const note = (what: string) => void timeline.push(`+${((Date.now() - startedAt) / 1000).toFixed(1)} s ${what}`);
  beforeEach(() => {
    timeline.length = 0;
    startedAt = Date.now();
  });
  afterEach(async function () {
    this.timeout(60_000);
    if (this.currentTest?.state === "failed") console.log(`      timeline:\n${timeline.map((line) => `        ${line}`).join("\n")}`);
    for (const host of hosts) await host.kill();
    hosts.clear();
    await api?.stop();
    api = undefined;
  });

  it("every alert stored once and shown once, every tap run once, the lease moves within 20 s, only the agents that stayed away are paged, every message ends true", async () => {
    const fleet = await fleets.create("fleet_kill");
    api = createFakeBotApi();
    await api.start();
    const bot = api;
    const link = { offlineAlertAfter: `${GRACE_MS}ms` };
    // Every alert in a message of its own (no digest), paced for a test rather than for Telegram's limits.
    const telegram = { token: bot.token, apiRoot: bot.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "5ms", globalPerSecond: 1000 }, digestThreshold: 100_000 };
    const replicas = [await fleet.startProcess("a", { link, telegram }), await fleet.startProcess("b", { link, telegram })];
    const endpoints = replicas.map((r) => r.address);
    note("replicas up");

    const agentConfig = async (name: string): Promise<AgentConfigInput> => {
      const certs = await fleets.pki.issueAgent(name);
      const input = testAgentConfig({ ca: fleets.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(fleets.dir, name), port: 0 });
      // The product's Welcome wait (15 s): 25 agents starting in one process on a loaded machine can take longer than the tests' usual 5 s.
      return { ...input, controller: { address: endpoints, serverName: "localhost" }, link: { ...input.link, connectTimeout: "15s" } };
    };
    const hostOptions = async (name: string): Promise<AgentHostOptions> => ({
      dir: fleets.dir,
      name,
      agents: await Promise.all(Array.from({ length: AGENTS_PER_HOST }, (_, i) => agentConfig(`${name}-agent-${i}`))),
      recordFile: join(fleets.dir, `${name}-executions.jsonl`),
    });
    const start = async (options: AgentHostOptions) => {
      const host = await startAgentHost(options);
      hosts.add(host);
      return host;
    };
    const staying = await hostOptions("steady");
    const dying = await hostOptions("doomed");
    const [steady, first] = await Promise.all([start(staying), start(dying)]);
    let doomed: AgentHost | undefined = first;
    note("hosts started");

    const statuses = async (): Promise<HostedAgentStatus[]> => (await Promise.all([steady, doomed].filter((h): h is AgentHost => h !== undefined).map((h) => h.status()))).flat();
    await eventually("all 50 agents connected", async () => (await statuses()).filter((s) => s.connected).length === 2 * AGENTS_PER_HOST, 60_000);

    // The replica holding the Telegram lease is the one to kill.
    let holder: { holder: string; epoch: number } | undefined;
    await eventually("a replica holds the Telegram lease", async () => (holder = await fleet.leaseHolder()) !== undefined, 30_000);
    const voice = fleet.replicaOf(holder!.holder)!;
    note("lease held");
    expect(voice, `the holder ${holder!.holder} is one of the replicas`).to.not.equal(undefined);
    const survivor = replicas.find((r) => r !== voice)!;
    const placed = await statuses();
    const on = (replica: ProcessReplica, ids: readonly string[]) => placed.filter((s) => ids.includes(s.agentId) && s.endpoint === replica.address).map((s) => s.agentId);
    expect(on(voice, steady.agentIds).length, "agents of the host that lives are on the replica that dies").to.be.above(0);
    // Stay away: one agent the dying replica held and one the survivor held, where the split allows.
    const stayAway = [...new Set([on(voice, doomed.agentIds)[0], on(survivor, doomed.agentIds)[0], ...doomed.agentIds])].filter((id): id is string => id !== undefined).slice(0, STAY_AWAY);

    // Taps: the operator presses Block IP under an alert's message once it is shown: a callback query for whoever polls getUpdates.
    const emitted: EmittedAlert[] = [];
    const shownIn = new Map<string, FakeMessage>(); // alert id → its message, as first seen with its buttons
    const tapped = new Map<string, string>(); // alert id → callback query id
    const tappedAt = new Map<string, number>(); // alert id → when the tap was pushed
    const toTap: EmittedAlert[] = [];
    /** Set when the flood is over: the tapper ends once every alert to tap is tapped, at the latest then. */
    let tapUntil = Infinity;
    /** While set, the tapper holds its taps back (to make them all at once just before the kill). */
    let holdTaps = false;
    const tapShown = () => {
      for (const message of bot.messagesIn(CHAT)) {
        for (const key of message.replyMarkup?.inline_keyboard.flat() ?? []) {
          const command = decodeCallback(key.callback_data);
          if (command && "alertId" in command && !shownIn.has(command.alertId)) shownIn.set(command.alertId, message);
        }
      }
      for (const next of toTap.splice(0)) {
        const message = shownIn.get(next.id);
        if (message) {
          tapped.set(next.id, bot.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR));
          tappedAt.set(next.id, Date.now());
        } else toTap.push(next);
      }
    };
    const tapper = (async () => {
      // The unacked alerts of the agents that stay away are never stored, nor shown.
      while (Date.now() < tapUntil && (tapUntil === Infinity || toTap.some((a) => !stayAway.includes(a.agentId)))) {
        if (!holdTaps) tapShown();
        await sleep(100);
      }
    })();
    const round = async (host: AgentHost | undefined, count = 1) => {
      if (!host) return;
      const alerts = await host.emit(count);
      for (const alert of alerts) {
        emitted.push(alert);
        if (emitted.length % TAP_EVERY === 0) toTap.push(alert);
      }
    };

    // The lease, watched from the test's own connection.
    const holders: Array<{ at: number; holder: string | undefined }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        holders.push({ at: Date.now(), holder: (await fleet.leaseHolder())?.holder });
        await sleep(200);
      }
    })();

    try {
      for (let i = 0; i < ROUNDS_BEFORE; i++) {
        await Promise.all([round(steady), round(doomed)]);
        await sleep(ROUND_EVERY_MS);
      }
      // The process that brings the killed agents back (same state directories), loaded before the kill.
      const comeback = await prepareAgentHost({ ...dying, name: "doomed-again", agents: dying.agents.filter((_, i) => !stayAway.includes(`doomed-agent-${i}`)) });
      hosts.add(comeback);
      // A burst just before the kill: alerts unacked and actions unsent when both die; the taps of the
      // last second all at once, a few milliseconds before it: updates fetched, or not yet, by the voice that dies.
      holdTaps = true;
      await Promise.all([round(steady, 3), round(doomed, 3)]);
      await sleep(1_000);
      tapShown();
      await sleep(30);
      const killedAt = Date.now();
      note("killing");
      voice.process.kill("SIGKILL");
      await Promise.all([voice.process.stopped, doomed.kill()]);
      hosts.delete(doomed);
      doomed = undefined;

      let restartedAt = 0;
      const restart = (async () => {
        await sleep(1_000);
        const back = await comeback.start();
        hosts.add(back);
        restartedAt = Date.now();
        note("restarted host up");
        doomed = back;
      })();
      holdTaps = false;
      for (let i = 0; i < ROUNDS_AFTER; i++) {
        await Promise.all([round(steady), round(doomed)]);
        await sleep(ROUND_EVERY_MS);
      }
      await restart;
      note("restarted");
      const back = 2 * AGENTS_PER_HOST - STAY_AWAY;
      let lastN = -1;
      await eventually("the agents started again are connected", async () => {
        const n = (await statuses()).filter((s) => s.connected).length;
        if (n !== lastN) note(`connected: ${(lastN = n)}`);
        return n === back;
      }, GRACE_MS);
      const backAt = Date.now();
      note("back");
      expect(backAt - killedAt, `the killed agents were back ${backAt - killedAt} ms after the kill (started again at +${restartedAt - killedAt} ms), within the grace`).to.be.below(GRACE_MS - 2_000);
      expect((await statuses()).every((s) => s.endpoint === survivor.address), "every agent on the survivor").to.equal(true);
      // The survivor shows the backlog of the gap (sends, and the edits of every tap) as fast as the machine lets it.
      tapUntil = Date.now() + 120_000;
      await tapper;
      const allShownAt = Date.now();
      note("tapper done");

      // Every alert stored once (its id is the key: stored at all, and no alert nobody emitted).
      await eventually("every outbox empty", async () => (await statuses()).every((s) => s.outbox === 0), 60_000);
      note("outboxes empty");
      const stored = await fleet.db<Array<{ alert_id: string; agent_id: string }>>`SELECT alert_id, agent_id FROM alerts WHERE kind = ${AlertKind.HTTP_404_BURST}`;
      const emittedIds = new Map(emitted.map((a) => [a.id, a.agentId]));
      expect(stored.filter((r) => emittedIds.get(r.alert_id) !== r.agent_id), "stored alerts nobody emitted (or for another agent)").to.deep.equal([]);
      const storedIds = new Set(stored.map((r) => r.alert_id));
      // Those of the agents that stayed away may wait in their outboxes; every other one is stored.
      expect(emitted.filter((a) => !stayAway.includes(a.agentId) && !storedIds.has(a.id)), "emitted alerts not stored").to.deep.equal([]);

      // Every tap made one action, executed exactly once at the agent, across the host's death.
      const chosen = emitted.filter((_, i) => (i + 1) % TAP_EVERY === 0);
      const unshown = chosen.filter((a) => !stayAway.includes(a.agentId) && !tapped.has(a.id)).map((a) => a.id);
      if (unshown.length > 0) {
        const ids = fleet.db.array(unshown);
        const queued = await fleet.db`SELECT alert_id, attempts, not_before, sending_since FROM telegram_queue WHERE alert_id = ANY(${ids}::text[])`;
        const rendered = await fleet.db`SELECT alert_id, message_id, rendered_phase FROM telegram_messages WHERE alert_id = ANY(${ids}::text[])`;
        const stored = await fleet.db`SELECT alert_id, agent_id, received_at FROM alerts WHERE alert_id = ANY(${ids}::text[])`;
        const depth = await fleet.db`SELECT id, alert_id, priority, seq, attempts, not_before, sending_since FROM telegram_queue ORDER BY priority, id LIMIT 10`;
        note(`survivor log: ${survivor.process.log.filter((line) => line.includes("telegram") || line.includes("lease")).slice(-30).join("\n")}`);
        note(`not shown: ${JSON.stringify({ unshown, stored, queued, rendered, depth, messages: bot.messagesIn(CHAT).length, killedAt })}`);
      }
      expect(unshown, "alerts to answer that were not shown with their buttons").to.deep.equal([]);
      const tappedIds = [...tapped.keys()];
      const actionsOfTaps = () =>
        fleet.db<Array<{ action_id: string; alert_id: string; state: string; requested_at: number }>>`
          SELECT action_id, alert_id, state, requested_at::float8 AS requested_at FROM actions WHERE alert_id = ANY(${fleet.db.array(tappedIds)}::text[])`;
      await eventually("every tap handled", async () => new Set((await actionsOfTaps()).map((r) => r.alert_id)).size === tappedIds.length, 60_000);
      const actionRows = await actionsOfTaps();
      expect(actionRows.length, "one action per tapped alert").to.equal(tappedIds.length);
      const tapOf = new Map(actionRows.map((r) => [r.alert_id, r.action_id]));
      const actionIds = actionRows.map((r) => r.action_id);
      // In flight at the kill: taps made before it and handled after it.
      const tapsAcross = actionRows.filter((r) => (tappedAt.get(r.alert_id) ?? Infinity) < killedAt && r.requested_at > killedAt).length;
      const tappedOnStayAway = new Set(emitted.filter((a) => stayAway.includes(a.agentId) && tapped.has(a.id)).map((a) => tapOf.get(a.id)!));
      const reachable = actionIds.filter((id) => !tappedOnStayAway.has(id));
      const executions = () => [...readHostedExecutions(staying.recordFile), ...readHostedExecutions(dying.recordFile)];
      // Each has its result; done = executed exactly once. One the agent's host died in the midst of (journal begun,
      // then kill -9) is never run again: its result says so — at most once, and told.
      const results = () =>
        fleet.db<Array<{ action_id: string; state: string; detail: string }>>`SELECT action_id, state, detail FROM actions WHERE action_id = ANY(${fleet.db.array(reachable)}::text[])`;
      await eventually("every action of an agent that came back has its result stored", async () => (await results()).every((r) => r.state === "done" || r.state === "failed"), 60_000);
      note("results stored");
      const runs = new Map<string, number>();
      for (const e of executions()) runs.set(e.actionId, (runs.get(e.actionId) ?? 0) + 1);
      expect([...runs.keys()].filter((id) => !actionIds.includes(id)), "executions nobody asked for").to.deep.equal([]);
      const finished = await results();
      const interrupted = finished.filter((r) => r.state === "failed");
      expect(finished.filter((r) => r.state === "done" && runs.get(r.action_id) !== 1).map((r) => `${r.action_id}: ${runs.get(r.action_id) ?? 0}`), "done actions not run exactly once").to.deep.equal([]);
      expect(interrupted.filter((r) => (runs.get(r.action_id) ?? 0) > 1 || !r.detail.includes("agent restarted during execution")).map((r) => `${r.action_id}: ${r.detail}`), "failed actions other than one cut by the kill").to.deep.equal([]);
      expect(interrupted.length, "actions cut by the kill of their agent (at most the few in execution then)").to.be.at.most(3);

      // The lease moved to the survivor within 20 s of the kill.
      const newHolder = () => holders.find((h) => h.at > killedAt && h.holder !== undefined && h.holder !== holder!.holder);
      await eventually("the lease moved", () => newHolder() !== undefined || Date.now() - killedAt > 30_000, 30_000);
      const tookOver = newHolder();
      expect(tookOver, "the lease moved").to.not.equal(undefined);
      expect(fleet.replicaOf(tookOver!.holder!)?.name).to.equal(survivor.name);
      expect(tookOver!.at - killedAt, "the lease moved within 20 s").to.be.below(20_000);

      // Offline: the agents that stayed away, once each; none that moved or came back within the grace.
      const offlineAgents = async () =>
        (await fleet.db<Array<{ body: Buffer }>>`SELECT body FROM alerts WHERE kind = ${AlertKind.AGENT_OFFLINE}`).map((r) => {
          const alert = fromBinary(AlertSchema, r.body);
          return alert.subject.case === "agentOffline" ? alert.subject.value.agentId : "?";
        });
      // The survivor takes the dead replica's agents over after its 15 s death time, then counts the grace.
      await eventually("the agents that stayed away are reported offline", async () => (await offlineAgents()).length >= stayAway.length, 15_000 + 5_000 + GRACE_MS + 15_000);
      note("offline seen");
      await sleep(3_000);
      expect((await offlineAgents()).sort(), "offline alerts: only the agents that stayed away").to.deep.equal([...stayAway].sort());

      // Telegram: each alert in exactly one message, which ends in the alert's true state.
      const problems = () => alertMessageProblems(fleet.db, bot, CHAT, trueState(stayAway));
      const telegramDeadline = Date.now() + 90_000;
      while ((await problems()).length > 0 && Date.now() < telegramDeadline) await sleep(500);
      note("messages settled");
      expect(await problems(), "alerts not shown once, or not in their true state").to.deep.equal([]);
      expect(bot.calls.filter((c) => c.method === "getUpdates" && c.status === 409), "two pollers at once").to.deep.equal([]);
      const repeats = bot.messages.filter((m) => m.chatId === CHAT).length - (await fleet.db`SELECT 1 FROM alerts`).length;
      const unanswered = [...tapped.values()].filter((id) => !bot.answeredCallbacks.some((c) => c.callbackQueryId === id)).length;

      console.log(
        `      ${emitted.length} alerts, ${actionIds.length} taps (${reachable.length} for agents that came back, ${tapsAcross} made before the kill and handled after it); lease moved ${tookOver!.at - killedAt} ms after the kill; alerts to tap all shown ${allShownAt - killedAt} ms after it; ` +
          `killed agents back ${backAt - killedAt} ms after it; ${stayAway.length} paged offline; ${interrupted.length} action(s) cut by the kill; ${repeats} repeated message(s), ${unanswered} tap(s) without a popup`,
      );
    } finally {
      tapUntil = 0;
      toTap.length = 0;
      watching = false;
      await tapper;
      await watcher.catch(() => undefined);
    }
  });
});
