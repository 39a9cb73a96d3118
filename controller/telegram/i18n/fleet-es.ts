import type { fleetEn } from "./fleet-en.js";

/** Spanish texts of labels, routes and blocks on all servers. */
export const fleetEs: typeof fleetEn = {
  labelsLine: (p: { labels: string }) => `etiquetas: ${p.labels}`,
  optedOut: "no participa en los bloqueos en todos los servidores",
  fleetHeadline: (p: { target: string; blocked: number; of: number }) => `🌐 ${p.target} bloqueada en ${p.blocked} de ${p.of} servidores`,
  fleetLifted: (p: { target: string; lifted: number; of: number }) => `🌐 ${p.target} desbloqueada en ${p.lifted} de ${p.of} servidores`,
  blockEverywhere: "Bloquear en todos los servidores",
  unblockEverywhere: (p: { ip: string }) => `Desbloquear ${p.ip} en todos`,
  blockNotice: (p: { sent: number; queued: number }) => `Bloqueo en todos los servidores: enviado a ${p.sent}, en cola para ${p.queued} sin conexión.`,
  unblockNotice: (p: { servers: number }) => `Desbloquear en todos: enviado a ${p.servers} servidores.`,
  alreadyBlocked: "Esta dirección ya se está bloqueando en todos los servidores desde esta alerta.",
  alreadyLifted: "Este bloqueo en todos los servidores ya se levantó.",
  unknownFleet: "Este bloqueo en todos los servidores no se conoce.",
  blocksLine: (p: { ip: string; until: string; servers: string }) => `🌐 ${p.ip} en todos los servidores, hasta ${p.until}: ${p.servers}`,
  blockedState: "bloqueada",
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
