import { z } from "zod";

/** The most controller endpoints one agent lists. */
export const MAX_CONTROLLER_ENDPOINTS = 32;

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** One "host:port" (IPv6 as "[::1]:port"), port 1-65535. */
const endpointSchema = z
  .string()
  .regex(HOST_PORT, 'expected "host:port" (IPv6 as "[::1]:port")')
  .refine((text) => {
    const port = Number(HOST_PORT.exec(text)?.[2]);
    return port >= 1 && port <= 65_535;
  }, "the port must be between 1 and 65535");

/**
 * Where the controller listens: `controller.address` is one "host:port",
 * or a list of them (the replicas of one controller, all equal), or one
 * name behind a TCP load balancer with TLS passthrough. Shorthands:
 * `controller: "host:port"` and `controller: [a, b]` mean
 * `controller: { address: ... }`. Validated to a list of distinct
 * endpoints (1-32), always a list once parsed; the agent walks them in an order of its own and moves
 * to the next one when a stream fails (agent/link/reconnect-plan.ts).
 */
export const controllerEndpointsSchema = z.preprocess(
  (value) => {
    if (typeof value === "string" || Array.isArray(value)) return { address: [value].flat() };
    if (value && typeof value === "object" && "address" in value && typeof value.address === "string") return { ...value, address: [value.address] };
    return value;
  },
  z
    .strictObject({
      /** "host:port", or a list of them (at most 32, no repeats). Required. */
      address: z
        .array(endpointSchema, 'expected "host:port" or a list of them')
        .min(1, 'at least one "host:port"')
        .max(MAX_CONTROLLER_ENDPOINTS, `at most ${MAX_CONTROLLER_ENDPOINTS} endpoints`)
        .superRefine((list, ctx) => {
          const seen = new Set<string>();
          list.forEach((endpoint, index) => {
            const key = endpoint.toLowerCase();
            if (seen.has(key)) ctx.addIssue({ code: "custom", path: [index], message: `"${endpoint}" is listed twice` });
            seen.add(key);
          });
        }),
      /** The name to check every controller's certificate against, when it differs from the host of each address. Default: each address's host. */
      serverName: z.string().min(1).optional(),
    }),
);

export type ControllerEndpoints = z.output<typeof controllerEndpointsSchema>;
