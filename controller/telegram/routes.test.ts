import { expect } from "chai";
import { AlertKind, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { telegramConfigSchema } from "./config.js";
import { chatCoversAgent, routeAlert, routeSchema } from "./routes.js";

const routes = [
  { match: { minSeverity: "critical" }, chats: [3], thread: 42, continue: true },
  { match: { labels: { team: "db" } }, chats: [2] },
  { match: { kinds: ["ssh_session"] }, chats: [1, 2] },
].map((route) => routeSchema.parse(route));
const ALL = [1, 2, 3, 4];
const subject = (labels: Record<string, string>, severity: Severity, kind = AlertKind.HTTP_404_BURST) => ({ agentId: "x", labels, kind, severity });

describe("telegram routes", () => {
  it("first match wins; continue goes on; a topic per route; each chat once", () => {
    expect(routeAlert(routes, subject({ team: "db" }, Severity.WARNING), ALL)).to.deep.equal([{ chatId: 2, threadId: undefined }]);
    expect(routeAlert(routes, subject({ team: "db" }, Severity.CRITICAL), ALL)).to.deep.equal([{ chatId: 3, threadId: 42 }, { chatId: 2, threadId: undefined }]);
    expect(routeAlert(routes, subject({ team: "web" }, Severity.INFO, AlertKind.SSH_SESSION), ALL)).to.deep.equal([{ chatId: 1, threadId: undefined }, { chatId: 2, threadId: undefined }]);
    // The db route wins over the ssh route for a db login.
    expect(routeAlert(routes, subject({ team: "db" }, Severity.INFO, AlertKind.SSH_SESSION), ALL)).to.deep.equal([{ chatId: 2, threadId: undefined }]);
  });

  it("an alert no route takes goes to every chat (a catch-all route last chooses otherwise)", () => {
    expect(routeAlert(routes, subject({ team: "web" }, Severity.WARNING), ALL).map((t) => t.chatId)).to.deep.equal(ALL);
    // Only the continue route matched: its chats, not every chat.
    expect(routeAlert(routes, subject({ team: "web" }, Severity.CRITICAL), ALL)).to.deep.equal([{ chatId: 3, threadId: 42 }]);
    expect(routeAlert([], subject({}, Severity.INFO), ALL).map((t) => t.chatId)).to.deep.equal(ALL);
  });

  it("says which servers a chat's commands show", () => {
    const strict = [...routes, routeSchema.parse({ chats: [1] })];
    expect(chatCoversAgent(strict, 2, { agentId: "db-1", labels: { team: "db" } })).to.equal(true);
    expect(chatCoversAgent(strict, 4, { agentId: "db-1", labels: { team: "db" } })).to.equal(false);
    expect(chatCoversAgent(strict, 1, { agentId: "web-1", labels: {} })).to.equal(true);
    expect(chatCoversAgent([], 4, { agentId: "web-1", labels: {} })).to.equal(true);
  });

  it("validates routes: known chats, at least one chat, a positive topic, known kinds and severities", () => {
    const base = { chats: [{ id: 1 }, { id: -100 }] };
    expect(telegramConfigSchema.parse({ ...base, routes: [{ chats: [-100], thread: 7 }] }).routes[0]).to.deep.include({ chats: [-100], thread: 7, continue: false });
    expect(() => telegramConfigSchema.parse({ ...base, routes: [{ chats: [5] }] })).to.throw(/chat 5 is not in telegram.chats/);
    expect(() => telegramConfigSchema.parse({ ...base, routes: [{ chats: [] }] })).to.throw();
    expect(() => telegramConfigSchema.parse({ ...base, routes: [{ chats: [1], thread: 0 }] })).to.throw();
    expect(() => telegramConfigSchema.parse({ ...base, routes: [{ chats: [1], match: { kinds: ["reboot"] } }] })).to.throw();
    expect(() => telegramConfigSchema.parse({ ...base, routes: [{ chats: [1], match: { minSeverity: "high" } }] })).to.throw();
  });
});
