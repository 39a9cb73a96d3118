import { expect } from "chai";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { WELCOME_WITHIN_MS } from "../controller/link/link-server.js";

describe("link timeouts: the controller and the agent agree", () => {
  it("the controller closes a connection without a Welcome only after an agent with the default connect timeout has given up on it", () => {
    const agent = parseConfig(agentConfigSchema, { controller: { address: "controller.example.net:7443" }, tls: { ca: "/c", cert: "/a", key: "/k" } }, "agent.yaml");
    expect(WELCOME_WITHIN_MS).to.be.greaterThan(agent.link.connectTimeout);
  });
});
