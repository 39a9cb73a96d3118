import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";

/** Which alerts a silence covers: all of its conditions hold (an empty matcher covers every alert). */
export interface SilenceMatcher {
  /** One server (agent id); undefined: any. */
  agentId?: string | undefined;
  /** Labels the server must carry, each with this value (agent config `labels`). */
  labels: Readonly<Record<string, string>>;
  /** Alert kinds; empty: any kind. */
  kinds: readonly AlertKind[];
}

export type SilenceOrigin = "command" | "window";

export interface Silence {
  silenceId: string;
  matcher: SilenceMatcher;
  startsAt: number;
  /** When it ends by itself (exclusive). */
  endsAt: number;
  /** Who made it: a Telegram actor, or "window:<name>" for a scheduled window. */
  createdBy: string;
  origin: SilenceOrigin;
  /** Set when someone ended it before endsAt (Unsilence). */
  endedAt?: number | undefined;
  /** Set once the digest of its still-open alerts was queued; a silence is digested once. */
  digestedAt?: number | undefined;
}

/** Where silences are kept (a part of the controller's Store). */
export interface SilenceStore {
  /** Stores a silence; one with the same id is left as it is. */
  saveSilence(silence: Silence): Promise<void>;
  /** Ends a silence early (Unsilence); false when it is unknown or already over at `at`. */
  endSilence(silenceId: string, at: Date): Promise<boolean>;
  /** Records that the digest of a silence's still-open alerts was queued. */
  markSilenceDigested(silenceId: string, at: Date): Promise<void>;
  /** Silences that end after `after`, and those not yet digested, oldest start first. */
  listSilences(after: Date): Promise<Silence[]>;
}

