import type { silenceEn } from "./silence-en.js";

/** Spanish texts of /silence, /silences and the digest after a silence. */
export const silenceEs: typeof silenceEn = {
  description: { silence: "Silenciar un servidor, una etiqueta o tipos durante un tiempo", silences: "Silencios en vigor, con botones para quitarlos" },
  help: "/silence web-1 2h — retener las alertas de web-1 durante 2 h (también label:team=db y tipos como ssh_session)\n/silences — silencios en vigor",
  usage:
    "Uso: /silence DESTINO DURACIÓN [TIPO ...]\nDESTINO: un servidor, label:CLAVE=VALOR o all; DURACIÓN: p. ej. 30m, 2h, 1h30m (como mucho 30d); TIPO: ssh_session, ssh_brute_force, cpu_sustained, http_404_burst, agent_offline, detector_blind.",
  problem: {
    no_target: "¿Qué servidor? Indica un id de servidor, label:CLAVE=VALOR o all.",
    no_duration: "¿Durante cuánto tiempo? Indica una duración como 30m o 2h.",
    bad_duration: (p: { token: string }) => `«${p.token}» no es una duración (usa p. ej. 30m, 2h, 1h30m).`,
    too_long: (p: { token: string }) => `${p.token} es demasiado: un silencio dura como mucho 30 días.`,
    bad_label: (p: { token: string }) => `«${p.token}» no es una etiqueta (usa label:CLAVE=VALOR, varias separadas por comas).`,
    bad_kind: (p: { token: string }) => `«${p.token}» no es un tipo de alerta.`,
    extra: "Sobran palabras.",
  },
  created: (p: { what: string; until: string; left: string }) => `🔕 ${p.what} silenciado hasta ${p.until} (${p.left}). Sus alertas se guardan y salen en /alerts, no se publican; las que sigan abiertas llegarán en un resumen al terminar.`,
  header: (p: { count: string }) => `Silencios en vigor (${p.count}):`,
  none: "Ningún silencio en vigor.",
  line: (p: { what: string; until: string; left: string; by: string }) => `🔕 ${p.what} — hasta ${p.until} (quedan ${p.left}), por ${p.by}`,
  windowBy: (p: { name: string }) => `ventana de mantenimiento «${p.name}»`,
  unsilenceButton: (p: { what: string }) => `Quitar silencio ${p.what}`,
  unsilenced: "Silencio terminado.",
  notInForce: "Este silencio ya no está en vigor.",
  ended: (p: { what: string; by: string }) => `🔔 Terminó el silencio de ${p.what} (${p.by}).`,
  stillOpen: (p: { count: string }) => `${p.count} alertas surgidas durante él siguen abiertas:`,
  noneOpen: "Ninguna alerta surgida durante él sigue abierta.",
  failed: "No se pudo guardar el silencio; inténtalo de nuevo.",
};
