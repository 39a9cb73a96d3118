import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { checkBlockTarget } from "./action-target.js";
import { alertAddress } from "./alert-kinds.js";
import { deriveActionTarget } from "./answers.js";

const ssh: Alert = create(AlertSchema, { id: "a", kind: AlertKind.SSH_SESSION, subject: { case: "sshSession", value: { user: "deploy", sourceIp: "2001:db8::5", sourcePort: 40000, sshdPid: 777 } } });
const brute: Alert = create(AlertSchema, { id: "b", kind: AlertKind.SSH_BRUTE_FORCE, subject: { case: "sshFailures", value: { sourceIp: "198.51.100.20", count: 30 } } });
const http: Alert = create(AlertSchema, { id: "c", kind: AlertKind.HTTP_404_BURST, subject: { case: "httpErrors", value: { clientIp: "203.0.113.4", status: 404, count: 60 } } });
const cpuIdle: Alert = create(AlertSchema, { id: "d", kind: AlertKind.CPU_SUSTAINED, subject: { case: "cpu", value: { percent: 95, top: [] } } });

describe("deriveActionTarget", () => {
  it("takes the address of SSH, brute-force and HTTP alerts for block, unblock and allow", () => {
    expect(alertAddress(ssh)).to.equal("2001:db8::5");
    for (const answer of [Answer.BLOCK_IP, Answer.UNBLOCK_IP, Answer.ALLOW]) {
      expect(deriveActionTarget(brute, answer)?.target).to.deep.equal({ case: "ip", value: "198.51.100.20" });
      expect(deriveActionTarget(http, answer)?.target).to.deep.equal({ case: "ip", value: "203.0.113.4" });
    }
  });

  it("names the SSH session for CLOSE_SESSION and nothing for other subjects", () => {
    const target = deriveActionTarget(ssh, Answer.CLOSE_SESSION)?.target;
    expect(target?.case).to.equal("session");
    expect(target?.case === "session" && target.value).to.include({ sshdPid: 777, sourceIp: "2001:db8::5", sourcePort: 40000, user: "deploy" });
    expect(deriveActionTarget(brute, Answer.CLOSE_SESSION)).to.equal(undefined);
  });

  it("has no target for host-wide answers or a CPU alert without processes", () => {
    for (const answer of [Answer.IGNORE, Answer.REBOOT, Answer.SHUTDOWN]) expect(deriveActionTarget(ssh, answer)).to.equal(undefined);
    expect(deriveActionTarget(cpuIdle, Answer.KILL_PROCESS)).to.equal(undefined);
    expect(deriveActionTarget(cpuIdle, Answer.BLOCK_IP)).to.equal(undefined);
  });
});

describe("checkBlockTarget: the controller checks block targets too", () => {
  const context = { agentAddresses: ["192.0.2.10/24", "2001:db8::10"], controllerAddresses: ["192.0.2.1"] };
  it("accepts one public address, in normal form", () => {
    expect(checkBlockTarget("198.51.100.7", context)).to.deep.equal({ ok: true, ip: "198.51.100.7" });
    expect(checkBlockTarget("2001:DB8:0:0::7", context)).to.deep.equal({ ok: true, ip: "2001:db8::7" });
  });
  it("refuses non-addresses, loopback, link-local, unspecified, multicast, broadcast, the agent's and the controller's own", () => {
    const cases: Array<[string, string]> = [
      ["0.0.0.0/0", "not_an_address"], ["<b>x</b>", "not_an_address"], ["10.0.0.1 ", "not_an_address"], ["", "not_an_address"], ["example.org", "not_an_address"],
      ["127.0.0.1", "loopback"], ["::1", "loopback"], ["::ffff:127.0.0.1", "loopback"], ["169.254.1.1", "link_local"], ["fe80::1", "link_local"],
      ["0.0.0.0", "unspecified"], ["::", "unspecified"], ["224.0.0.1", "multicast"], ["ff02::1", "multicast"], ["255.255.255.255", "broadcast"],
      ["192.0.2.10", "agent_own"], ["2001:db8:0::10", "agent_own"], ["192.0.2.1", "controller"],
    ];
    for (const [value, reason] of cases) expect(checkBlockTarget(value, context), value).to.deep.equal({ ok: false, reason });
  });
});
