/**
 * How long an agent waits, by default, from opening a stream (its dial, the
 * controller's accept queue, the TLS handshake) to the controller's Welcome
 * before it gives up and dials again: the agent's `link.connectTimeout`
 * default. The controller keeps a connection that has no Welcome yet at
 * least this long (WELCOME_WITHIN_MS in controller/link/link-server.ts), so
 * that it never closes one its agent still waits for — a handshake already
 * paid for.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
