import { expect } from "chai";
import { parseConfig } from "../../common/config.js";
import { cronExpressionFor, detectorsConfigSchema } from "./config.js";

const parse = (value: unknown) => parseConfig(detectorsConfigSchema, value, "agent.yaml");

describe("detectors config", () => {
  it("an empty section enables every detector with the original defaults", () => {
    const c = parse({});
    expect(c.nginx404).to.deep.include({ enabled: true, paths: ["/var/log/nginx/access.log"], format: "combined", trustedProxies: [], window: 60_000, warning: 20, critical: 50 });
    expect(c.sshBruteForce).to.deep.include({ enabled: true, window: 60_000, warning: 5, critical: 20, authLog: "/var/log/auth.log", source: "auto" });
    expect(c.cpuSustained).to.deep.include({ enabled: true, interval: 30_000, sustainSamples: 2, warning: 50, critical: 90 });
    expect(c.sshSession.enabled).to.equal(true);
    expect(c.maxLineBytes).to.equal(16_384);
  });

  it("reads durations and keeps the other defaults of a partly given section", () => {
    const c = parse({ nginx404: { window: "2m", warning: 5 } });
    expect(c.nginx404).to.deep.include({ window: 120_000, warning: 5, critical: 50 });
  });

  it("refuses warning >= critical, naming the key", () => {
    expect(() => parse({ nginx404: { warning: 50, critical: 50 } })).to.throw(/nginx404\.warning: warning \(50\) must be below critical \(50\)/);
    expect(() => parse({ sshBruteForce: { warning: 30 } })).to.throw(/sshBruteForce\.warning: warning \(30\) must be below critical \(20\)/);
    expect(() => parse({ cpuSustained: { warning: 95, critical: 90 } })).to.throw(/cpuSustained\.warning/);
  });

  it("refuses unknown keys, bad types and out-of-range values", () => {
    expect(() => parse({ nginx404: { treshold: 3 } })).to.throw(/nginx404\.treshold: unknown key/);
    expect(() => parse({ cpuSustained: { critical: 120 } })).to.throw(/cpuSustained\.critical/);
    expect(() => parse({ sshBruteForce: { warning: 0 } })).to.throw(/sshBruteForce\.warning/);
    expect(() => parse({ sshSession: { source: "syslog" } })).to.throw(/sshSession\.source/);
    expect(() => parse({ nginx404: { window: "soon" } })).to.throw(/nginx404\.window: invalid duration/);
  });

  it("accepts only CPU intervals a cron step expresses", () => {
    expect(() => parse({ cpuSustained: { interval: "45s" } })).to.throw(/cpuSustained\.interval/);
    expect(parse({ cpuSustained: { interval: "15s" } }).cpuSustained.interval).to.equal(15_000);
    expect(cronExpressionFor(30_000)).to.equal("*/30 * * * * *");
    expect(cronExpressionFor(300_000)).to.equal("0 */5 * * * *");
    expect(cronExpressionFor(3_600_000)).to.equal("0 0 * * * *");
    expect(cronExpressionFor(1500)).to.equal(undefined);
    expect(cronExpressionFor(7 * 60_000)).to.equal(undefined);
  });

  it("web logs: accessLog is paths of one; globs only in file names; formats and proxies checked at load", () => {
    expect(parse({ nginx404: { accessLog: "/srv/a.log" } }).nginx404.paths).to.deep.equal(["/srv/a.log"]);
    expect(parse({ nginx404: { paths: ["/var/log/nginx/*access.log"] } }).nginx404.paths).to.deep.equal(["/var/log/nginx/*access.log"]);
    const refused = (nginx404: unknown, words: RegExp) => expect(() => parse({ nginx404 })).to.throw(words);
    refused({ accessLog: "/a.log", paths: ["/b.log"] }, /not both/);
    refused({ paths: ["/var/log/*/access.log"] }, /file name only/);
    refused({ paths: ["access.log"] }, /absolute/);
    refused({ format: "nginx_main" }, /none of combined/);
    refused({ format: "'$remote_addr [$time_local] $body_bytes_sent'" }, /no \$status/);
    refused({ format: "'$status $time_local $request'" }, /remote_addr/);
    refused({ trustedProxies: ["10.0.0.0/33"] }, /prefix/);
    refused({ trustedProxies: ["proxy.example"] }, /not an address/);
    expect(parse({ nginx404: { format: "escape=json '{\"a\":\"$remote_addr\",\"t\":\"$time_iso8601\",\"s\":$status}'", trustedProxies: ["10.0.0.0/8", "::1"] } }).nginx404.trustedProxies).to.have.length(2);
  });
});
