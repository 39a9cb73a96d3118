import { expect } from "chai";
import { compileWebFormat, createWebScanner, unquoteLogFormat } from "./web-log-format.js";
import { MALFORMED } from "./web-log-scanner.js";

const scan = (format: string, line: string) => {
  const scanner = createWebScanner(compileWebFormat(format, { peer: "remote_addr", status: "status", time: "time" }), 404);
  const status = scanner.status(line, 0, line.length);
  return status === 404 ? { status, peer: scanner.peer(), time: scanner.time(), path: scanner.path(100), vhost: scanner.vhost(), xff: scanner.forwardedFor() } : { status };
};

describe("web log formats: the compiled scanners", () => {
  it("reads nginx.conf syntax: escape=json and several quoted parts", () => {
    expect(unquoteLogFormat(`escape=json '{"a":"$remote_addr",' '"s":$status}'`)).to.deep.equal({ escape: "json", format: '{"a":"$remote_addr","s":$status}' });
    expect(unquoteLogFormat("$remote_addr [$time_local] $status")).to.deep.equal({ escape: "default", format: "$remote_addr [$time_local] $status" });
  });

  it("a custom text format: extra fields, $time_iso8601, virtual host, X-Forwarded-For", () => {
    const format = `'$host $remote_addr [$time_iso8601] "$request" $status $request_time "$http_x_forwarded_for" $upstream_response_time'`;
    const got = scan(format, 'shop.example 203.0.113.7 [2026-12-01T10:00:00+01:00] "GET /a?b=1 HTTP/1.1" 404 0.004 "198.51.100.1, 10.0.0.2" 0.003');
    expect(got).to.deep.equal({ status: 404, peer: "203.0.113.7", time: Date.UTC(2026, 11, 1, 9, 0, 0), path: "/a?b=1", vhost: "shop.example", xff: "198.51.100.1, 10.0.0.2" });
    expect(scan(format, 'shop.example 203.0.113.7 [2026-12-01T10:00:00+01:00] "GET / HTTP/1.1" 200 0.004 "-" 0.003')).to.deep.equal({ status: 200 });
  });

  it("forged text in $remote_user cannot move the fields after it; a forged status is malformed, not counted", () => {
    const combinedLike = `'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'`;
    const ok = '203.0.113.7 - bob [01/Dec/2026:10:00:00 +0000] "GET /x HTTP/1.1" 404 153';
    expect(scan(combinedLike, ok)).to.include({ status: 404, peer: "203.0.113.7" });
    // The user "x [01/Dec/...]" tries to end the user field early; nginx escapes the quotes it would need.
    const forged = '203.0.113.7 - x [01/Dec/2026:10:00:00 +0000] \\x22GET /f HTTP/1.1\\x22 404 1 [01/Dec/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 153';
    expect(scan(combinedLike, forged).status).to.equal(MALFORMED);
  });

  it("Apache's backslash escapes: a quote inside the request does not end it", () => {
    const line = 'www.example.com:443 203.0.113.7 - - [01/Dec/2026:10:00:00 +0000] "GET /a\\" 404 0 \\"x HTTP/1.1" 200 153 "-" "curl"';
    expect(scan("apache_vhost_combined", line)).to.deep.equal({ status: 200 });
    const real = 'www.example.com:443 203.0.113.7 - - [01/Dec/2026:10:00:00 +0000] "GET /a\\"b HTTP/1.1" 404 153 "-" "curl"';
    expect(scan("apache_vhost_combined", real)).to.include({ status: 404, peer: "203.0.113.7", vhost: "www.example.com" });
    // The combined scanner refuses such a line rather than reading a forged status.
    expect(scan("combined", '203.0.113.7 - - [01/Dec/2026:10:00:00 +0000] "GET /a\\" 404 0 \\"x HTTP/1.1" 200 153 "-" "curl"').status).to.equal(MALFORMED);
  });

  it("JSON: a status key inside a string value is not the status; the line is parsed before it counts", () => {
    const format = "escape=json '{\"remote_addr\":\"$remote_addr\",\"time\":\"$time_iso8601\",\"request\":\"$request\",\"status\":$status}'";
    const forged = '{"remote_addr":"203.0.113.7","time":"2026-12-01T10:00:00+00:00","request":"GET /\\",\\"status\\":404,\\"remote_addr\\":\\"6.6.6.6 HTTP/1.1","status":200}';
    expect(scan(format, forged)).to.deep.equal({ status: 200 });
    const nested = '{"remote_addr":"203.0.113.7","time":"2026-12-01T10:00:00+00:00","request":"GET /x HTTP/1.1","status":404}';
    expect(scan(format, nested)).to.include({ status: 404, peer: "203.0.113.7", path: "/x" });
    expect(scan(format, '{"remote_addr":"203.0.113.7","status":404,"time":"x"} trailing').status).to.equal(MALFORMED);
  });
});
