/**
 * How the controller tells an agent why it ends a stream that did nothing
 * wrong: the stream's status is UNAVAILABLE and its trailers carry
 * `secarc-reconnect: rebalance`. An agent that understands it reconnects
 * at once (after a short jitter, to an endpoint drawn from all of its
 * `controller.address` list) and does not count it as a failure; an agent
 * that does not sees an ordinary UNAVAILABLE and reconnects with its
 * backoff, which is correct too. See docs/protocol.md.
 */
export const RECONNECT_TRAILER = "secarc-reconnect";

/** The trailer's value when the stream reached the controller's `link.maxStreamAge`. */
export const RECONNECT_REBALANCE = "rebalance";
