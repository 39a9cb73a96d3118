import { expect } from "chai";
import { parseConfig } from "../../common/config.js";
import { isSecarcError } from "../../common/errors.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { controllerConfigSchema, type ControllerConfigInput } from "../config.js";

const tls = { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/controller.pem", key: "/etc/secarc/controller-key.pem" };
const block404 = { kind: "http_404_burst", severity: "critical", answer: "block_ip", after: "5m", duration: "24h" } as const;

function parse(input: Partial<ControllerConfigInput>) {
  return parseConfig(controllerConfigSchema, { tls, ...input }, "controller.yaml");
}

function refusal(input: Record<string, unknown>): string {
  try {
    parseConfig(controllerConfigSchema, { tls, ...input }, "controller.yaml");
  } catch (err) {
    expect(isSecarcError(err, "config_invalid")).to.equal(true);
    return (err as Error).message;
  }
  throw new Error("expected a config error");
}

describe("controller config: policy", () => {
  it("does nothing by default", () => {
    expect(parse({}).policy).to.deep.equal({ rules: [] });
  });

  it("reads a rule into enum values and milliseconds", () => {
    expect(parse({ policy: { rules: [block404, { kind: "cpu_sustained", severity: "critical", answer: "reboot", after: "10m" }] } }).policy.rules).to.deep.equal([
      { kind: AlertKind.HTTP_404_BURST, severity: Severity.CRITICAL, answer: Answer.BLOCK_IP, afterMs: 300_000, durationMs: 86_400_000, label: "block_ip critical http_404_burst after 5m" },
      { kind: AlertKind.CPU_SUSTAINED, severity: Severity.CRITICAL, answer: Answer.REBOOT, afterMs: 600_000, durationMs: undefined, label: "reboot critical cpu_sustained after 10m" },
    ]);
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["an answer the kind does not offer", { policy: { rules: [{ ...block404, answer: "reboot", duration: undefined }] } }, "policy.rules.0.answer: http_404_burst alerts do not offer reboot; they offer ignore, block_ip"],
    ["an answer that answers no alert", { policy: { rules: [{ ...block404, answer: "unblock_ip" }] } }, "policy.rules.0.answer: Invalid option"],
    ["an unknown kind", { policy: { rules: [{ ...block404, kind: "http_500_burst" }] } }, "policy.rules.0.kind: Invalid option"],
    ["an unknown severity", { policy: { rules: [{ ...block404, severity: "high" }] } }, "policy.rules.0.severity: Invalid option"],
    ["a zero after", { policy: { rules: [{ ...block404, after: "0s" }] } }, "policy.rules.0.after: must be longer than zero"],
    ["a negative after", { policy: { rules: [{ ...block404, after: -5 }] } }, "policy.rules.0.after"],
    ["a zero duration", { policy: { rules: [{ ...block404, duration: 0 }] } }, "policy.rules.0.duration: must be longer than zero"],
    ["a duration for an answer without one", { policy: { rules: [{ kind: "cpu_sustained", severity: "critical", answer: "shutdown", after: "5m", duration: "1h" }] } }, "policy.rules.0.duration: duration applies to block_ip, allow and ignore, not to shutdown"],
    ["two rules for the same kind and severity", { policy: { rules: [block404, { ...block404, answer: "ignore", duration: undefined }] } }, "policy.rules.1: a second rule for critical http_404_burst alerts (rule 0 is the first); keep one"],
    ["an unknown key in a rule", { policy: { rules: [{ ...block404, afterr: "5m" }] } }, "policy.rules.0.afterr: unknown key"],
    ["an unknown key in the section", { policy: { rule: [] } }, "policy.rule: unknown key"],
    [
      "an after not shorter than the answer window",
      { telegram: { answerWindow: "1h" }, policy: { rules: [{ ...block404, after: "1h" }] } },
      "policy.rules.0.after: 1h is not shorter than telegram.answerWindow (1h): the alert would expire, and stop offering answers, before this rule acts",
    ],
    ["an after beyond the default window without a telegram section", { policy: { rules: [{ ...block404, after: "25h" }] } }, "policy.rules.0.after: 1d1h is not shorter than telegram.answerWindow (1d)"],
  ];
  for (const [name, input, message] of cases) {
    it(`refuses ${name}, naming the key`, () => {
      expect(refusal(input)).to.include(message);
    });
  }

  it("accepts an after just shorter than the answer window, and rules for other severities of the same kind", () => {
    const config = parse({ telegram: { answerWindow: "1h" }, policy: { rules: [{ ...block404, after: "59m" }, { ...block404, severity: "warning", answer: "ignore", duration: undefined, after: "30m" }] } });
    expect(config.policy.rules.map((r) => r.afterMs)).to.deep.equal([3_540_000, 1_800_000]);
  });
});
