import { expect } from "chai";
import { agentLinkConfigSchema } from "../agent/config.js";
import { WELCOME_WITHIN_MS } from "../controller/link/link-server.js";

describe("link timeouts: the controller and the agent agree", () => {
  it("the controller closes a connection without a Welcome only after an agent with the default connect timeout has given up on it", () => {
    expect(WELCOME_WITHIN_MS).to.be.greaterThan(agentLinkConfigSchema.parse(undefined).connectTimeout);
  });
});
