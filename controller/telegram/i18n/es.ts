import type { Translations } from "./translations.js";

/** Spanish texts. */
export const es = {
  severity: { info: "INFO", warning: "AVISO", critical: "CRÍTICO" },
  units: { s: "s", min: "min", h: "h", d: "d" },
  server: "Servidor",
  kindName: {
    sshSession: "acceso SSH",
    sshBruteForce: "fuerza bruta SSH",
    cpuSustained: "CPU sostenida",
    http404Burst: "ráfaga de HTTP 404",
    unknown: "alerta",
  },
  answer: {
    allow: "Permitir",
    ignore: "Ignorar",
    closeSession: "Cerrar sesión",
    blockIp: "Bloquear IP",
    unblockIp: "Desbloquear",
    killProcess: (p: { name: string }) => `Matar ${p.name}`,
    reboot: "Reiniciar",
    shutdown: "Apagar",
  },
  alert: {
    sshSession: (p: { user: string; ip: string; port: string; method: string }) =>
      `Nuevo acceso SSH: ${p.user} desde ${p.ip} puerto ${p.port} (${p.method})`,
    sshBruteForce: (p: { count: string; window: string; ip: string; users: string }) =>
      `${p.count} accesos SSH fallidos en ${p.window} desde ${p.ip}${p.users ? ` — usuarios probados: ${p.users}` : ""}`,
    cpuSustained: (p: { percent: string; duration: string; top: string }) =>
      `CPU al ${p.percent} % durante ${p.duration}${p.top ? ` — más activo: ${p.top}` : ""}`,
    http404Burst: (p: { count: string; status: string; window: string; ip: string; paths: string }) =>
      `${p.count} respuestas HTTP ${p.status} en ${p.window} a ${p.ip}${p.paths ? ` — últimas rutas: ${p.paths}` : ""}`,
    unknown: (p: { summary: string }) => p.summary || "Alerta de un tipo que este controlador no conoce",
  },
  lifecycle: {
    awaiting: "Esperando una respuesta",
    chosen: (p: { answer: string; by: string }) => `${p.answer} elegido por ${p.by}`,
    appliedByPolicy: (p: { answer: string; after: string }) => `${p.answer} aplicado automáticamente por la política tras ${p.after}`,
    sent: "enviado al servidor, esperando su resultado",
    queued: "en cola: servidor desconectado, se ejecutará cuando vuelva a conectar",
    done: (p: { detail: string }) => `hecho: ${p.detail}`,
    failed: (p: { detail: string }) => `falló: ${p.detail}`,
    refused: (p: { detail: string }) => `rechazado: ${p.detail}`,
    dryRun: "simulación: no se cambió nada",
    escalated: (p: { from: string; to: string }) => `escalada: ${p.from} → ${p.to}`,
    resolved: "resuelta: la condición terminó",
    expired: "caducada: ya no se ofrecen respuestas",
  },
  confirm: {
    reboot: "¿Confirmar reinicio?",
    shutdown: "¿Confirmar apagado?",
    cancel: "Cancelar",
  },
  notice: {
    notAllowed: "No tienes permiso para hacer esto.",
    invalidButton: "Este botón no es válido.",
    unknownAlert: "Esta alerta no se conoce (ya).",
    alreadyAnswered: (p: { answer: string; by: string }) => `Ya respondida: ${p.answer} elegido por ${p.by}.`,
    resolved: "Esta alerta está resuelta; no hay nada que responder.",
    expired: "Esta alerta ha caducado; ya no se ofrecen respuestas.",
    unsupported: "Este servidor no puede llevar a cabo esa respuesta.",
    sent: (p: { answer: string; server: string }) => `${p.answer}: enviado a ${p.server}.`,
    queued: (p: { answer: string; server: string }) => `${p.answer}: en cola, ${p.server} está desconectado.`,
    confirmFirst: "Pulsa otra vez para confirmar.",
    confirmExpired: "La confirmación caducó; pulsa la respuesta otra vez.",
    cancelled: "Cancelado.",
    failed: "Algo salió mal; no se cambió nada.",
  },
  command: {
    description: {
      status: "Servidores y si están conectados",
      alerts: "Alertas abiertas",
      blocks: "Bloqueos de IP activos, con botones para desbloquear",
      help: "Qué hace este bot",
    },
    help:
      "SecARC muestra aquí las alertas de seguridad de tus servidores. Pulsa un botón bajo una alerta para responderla.\n" +
      "/status — servidores y si están conectados\n/alerts — alertas abiertas\n/blocks — bloqueos de IP activos\n/help — este texto",
    statusHeader: (p: { count: string }) => `Servidores (${p.count}):`,
    statusLine: (p: { server: string; state: string; lastSeen: string }) => `${p.server}: ${p.state}, visto por última vez ${p.lastSeen}`,
    online: "conectado",
    offline: "desconectado",
    noServers: "Ningún servidor se ha conectado todavía.",
    alertsHeader: (p: { count: string }) => `Alertas abiertas (${p.count}):`,
    noAlerts: "No hay alertas abiertas.",
    blocksHeader: (p: { count: string }) => `Bloqueos activos (${p.count}):`,
    blockLine: (p: { ip: string; server: string; until: string }) => `${p.ip} en ${p.server}, hasta ${p.until}`,
    untilUnblocked: "que se desbloquee",
    noBlocks: "No hay bloqueos activos.",
    unblockButton: (p: { ip: string; server: string }) => `Desbloquear ${p.ip} (${p.server})`,
    openButton: (p: { n: string }) => `Ver #${p.n}`,
    moreButton: "Más ➡️",
  },
  digest: (p: { count: string; server: string; parts: string }) => `${p.count} alertas nuevas de ${p.server}: ${p.parts} — /alerts`,
  testAlert: (p: { server: string }) => `🧪 Alerta de prueba de ${p.server} con secarc test-alert — la entrega funciona.`,
  sendHealth: {
    failing: (p: { since: string; error: string }) => `⚠️ Los envíos a Telegram fallan desde las ${p.since} (último error: ${p.error})`,
    failed: (p: { since: string; until: string; error: string }) => `Los envíos a Telegram fallaron de ${p.since} a ${p.until} (último error: ${p.error})`,
  },
  truncated: "… (recortado)",
} satisfies Translations;
