import type { DetectorsConfig } from "./config.js";

/**
 * The `detectors` section with every default, as `detectorsConfigSchema`
 * gives it for an absent section, written out so that `secarc replay`
 * without `--config` starts without building the config schemas (zod).
 * config-defaults.test.ts checks it against the schema: change both.
 */
const DEFAULTS = `{
  "sshSession": { "enabled": true, "source": "auto", "authLog": "/var/log/auth.log", "journalUnits": ["ssh", "sshd"], "rawNewlines": false, "maxSessions": 10000 },
  "sshBruteForce": {
    "enabled": true, "source": "auto", "authLog": "/var/log/auth.log", "journalUnits": ["ssh", "sshd"], "rawNewlines": false,
    "mode": "normal", "window": 60000, "warning": 5, "critical": 20, "maxSources": 100000
  },
  "cpuSustained": { "enabled": true, "interval": 30000, "sustainSamples": 2, "warning": 50, "critical": 90, "topProcesses": 5 },
  "nginx404": {
    "enabled": true, "format": "combined",
    "jsonFields": { "peer": "remote_addr", "status": "status", "time": "time", "request": "request", "forwardedFor": "http_x_forwarded_for" },
    "trustedProxies": [], "window": 60000, "warning": 20, "critical": 50, "recentPaths": 5, "maxClients": 100000,
    "paths": ["/var/log/nginx/access.log"]
  },
  "maxLineBytes": 16384,
  "pollInterval": 1000
}`;

/** A fresh copy of the defaults (callers may change theirs). */
export function detectorsDefaults(): DetectorsConfig {
  return JSON.parse(DEFAULTS) as DetectorsConfig;
}
