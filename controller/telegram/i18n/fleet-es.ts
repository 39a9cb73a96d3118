import type { fleetEn } from "./fleet-en.js";

/** Spanish texts of labels, routes and blocks on all servers. */
export const fleetEs: typeof fleetEn = {
  labelsLine: (p: { labels: string }) => `etiquetas: ${p.labels}`,
  optedOut: "no participa en los bloqueos en todos los servidores",
};
