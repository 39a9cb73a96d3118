import type { fleetEn } from "./fleet-en.js";

/** Spanish texts of labels, routes and blocks on all servers. */
export const fleetEs: typeof fleetEn = {
  labelsLine: (p: { labels: string }) => `etiquetas: ${p.labels}`,
  optedOut: "no participa en los bloqueos en todos los servidores",
  fleetHeadline: (p: { target: string; blocked: number; of: number }) => `🌐 ${p.target} bloqueada en ${p.blocked} de ${p.of} servidores`,
  fleetLifted: (p: { target: string; lifted: number; of: number }) => `🌐 ${p.target} desbloqueada en ${p.lifted} de ${p.of} servidores`,
  fleetState: {
    sent: "enviado",
    queued: "en cola (sin conexión)",
    refused: (p: { detail: string }) => `rechazado (${p.detail})`,
    lifting: "desbloqueo en cola",
    optedOut: "no participa",
    cannotBlock: "no puede bloquear",
    skipped: (p: { detail: string }) => `no enviado (${p.detail})`,
  },
};
