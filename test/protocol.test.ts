import { create, fromBinary, toBinary, equals, type DescMessage, type MessageShape, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, durationFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { AgentMessageSchema, AgentService, ControllerMessageSchema } from "../gen/secarc/v1/agent_service_pb.js";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";

function roundTrip<D extends DescMessage>(schema: D, init: MessageInitShape<D>): { sent: MessageShape<D>; read: MessageShape<D>; bytes: number } {
  const sent = create(schema, init);
  const bytes = toBinary(schema, sent);
  const read = fromBinary(schema, bytes);
  return { sent, read, bytes: bytes.length };
}

const at = timestampFromMs(Date.UTC(2026, 10, 29, 10, 0, 0));

describe("protocol secarc.v1", () => {
  it("declares one bidi Connect RPC on AgentService", () => {
    expect(AgentService.typeName).to.equal("secarc.v1.AgentService");
    expect(AgentService.method.connect.methodKind).to.equal("bidi_streaming");
  });

  const agentMessages: Array<[string, MessageInitShape<typeof AgentMessageSchema>]> = [
    ["hello", { payload: { case: "hello", value: { agentId: "web-1", agentVersion: "0.1.0", hostname: "web-1.example", detectors: [AlertKind.SSH_SESSION, AlertKind.HTTP_404_BURST], actions: [Answer.BLOCK_IP, Answer.REBOOT], finishedActionIds: ["a1"], addresses: ["192.0.2.10", "2001:db8::10"] } } }],
    ["alert ssh session", { payload: { case: "alert", value: { id: "0192f0c8-0000-7000-8000-000000000001", revision: 1, kind: AlertKind.SSH_SESSION, severity: Severity.INFO, state: AlertState.OPEN, detectedAt: at, updatedAt: at, answers: [Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP], summary: "New SSH login", subject: { case: "sshSession", value: { user: "alice", sourceIp: "203.0.113.7", sourcePort: 51234, authMethod: "publickey", sshdPid: 4242 } } } } }],
    ["alert ssh failures", { payload: { case: "alert", value: { id: "x2", revision: 2, kind: AlertKind.SSH_BRUTE_FORCE, severity: Severity.CRITICAL, state: AlertState.OPEN, subject: { case: "sshFailures", value: { sourceIp: "2001:db8::7", count: 25, window: durationFromMs(60_000), usernames: ["root", "admin"], firstSeen: at, lastSeen: at } } } } }],
    ["alert cpu", { payload: { case: "alert", value: { id: "x3", revision: 1, kind: AlertKind.CPU_SUSTAINED, severity: Severity.WARNING, subject: { case: "cpu", value: { percent: 93.5, threshold: 90, sustained: durationFromMs(120_000), top: [{ pid: 777, name: "xmrig", cpuPercent: 180.2, startTicks: 123456789n, user: "www-data" }] } } } } }],
    ["alert http errors", { payload: { case: "alert", value: { id: "x4", revision: 3, kind: AlertKind.HTTP_404_BURST, severity: Severity.CRITICAL, state: AlertState.RESOLVED, subject: { case: "httpErrors", value: { clientIp: "198.51.100.23", status: 404, count: 185, window: durationFromMs(60_000), recentPaths: ["/wp-login.php"], firstSeen: at, lastSeen: at } } } } }],
    ["action result", { payload: { case: "actionResult", value: { actionId: "act-1", status: ResultStatus.DONE, detail: "198.51.100.23 blocked for 24h", finishedAt: at, dryRun: false, expiresAt: at } } }],
    ["heartbeat", { payload: { case: "heartbeat", value: { sentAt: at, outboxDepth: 3 } } }],
  ];
  for (const [name, init] of agentMessages) {
    it(`AgentMessage round-trips: ${name}`, () => {
      const { sent, read, bytes } = roundTrip(AgentMessageSchema, init);
      expect(bytes).to.be.greaterThan(0);
      expect(read.payload.case).to.equal(sent.payload.case);
      expect(equals(AgentMessageSchema, read, sent)).to.equal(true);
    });
  }

  const controllerMessages: Array<[string, MessageInitShape<typeof ControllerMessageSchema>]> = [
    ["welcome", { payload: { case: "welcome", value: { controllerVersion: "0.1.0", serverTime: at, heartbeatInterval: durationFromMs(10_000), maxMessageBytes: 1 << 20, sessionId: "s-1" } } }],
    ["alert ack", { payload: { case: "alertAck", value: { alertId: "x1", revision: 2 } } }],
    ["response action", { payload: { case: "responseAction", value: { actionId: "act-1", alertId: "x1", answer: Answer.BLOCK_IP, requestedBy: { telegramUserId: 123456789012n, username: "op", displayName: "Op Erator" }, requestedAt: at, options: { duration: durationFromMs(86_400_000), delay: durationFromMs(5_000) }, target: { target: { case: "ip", value: "198.51.100.23" } } } } }],
    ["response action with session target", { payload: { case: "responseAction", value: { actionId: "act-2", answer: Answer.CLOSE_SESSION, target: { target: { case: "session", value: { sshdPid: 4242, sourceIp: "203.0.113.7", sourcePort: 51234, user: "alice" } } } } } }],
    ["result ack", { payload: { case: "resultAck", value: { actionId: "act-1" } } }],
  ];
  for (const [name, init] of controllerMessages) {
    it(`ControllerMessage round-trips: ${name}`, () => {
      const { sent, read } = roundTrip(ControllerMessageSchema, init);
      expect(read.payload.case).to.equal(sent.payload.case);
      expect(equals(ControllerMessageSchema, read, sent)).to.equal(true);
    });
  }

  it("keeps 64-bit fields exact", () => {
    const { read } = roundTrip(ControllerMessageSchema, controllerMessages[2]![1]);
    expect(read.payload.case).to.equal("responseAction");
    if (read.payload.case === "responseAction") expect(read.payload.value.requestedBy?.telegramUserId).to.equal(123456789012n);
  });
});
