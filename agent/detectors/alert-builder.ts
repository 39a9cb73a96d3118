import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { newId } from "../../common/ids.js";
import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema, AlertState, type Alert, type AlertKind, type Severity } from "../../gen/secarc/v1/alert_pb.js";

/**
 * The life of one alert as a detector sees it: revision 1 when raised, one
 * more for each change (escalation, resolution), always the same id.
 */
export interface AlertTrack {
  readonly id: string;
  readonly detectedAt: number;
  revision: number;
  severity: Severity;
  state: AlertState;
}

export interface AlertContent {
  severity: Severity;
  state: AlertState;
  summary: string;
  subject: Alert["subject"];
}

/** Starts a track (revision 0; the first `buildAlert` makes revision 1). */
export function newTrack(at: number, severity: Severity): AlertTrack {
  return { id: newId(at), detectedAt: at, revision: 0, severity, state: AlertState.OPEN };
}

/** The next revision of a tracked alert, as a complete Alert message. */
export function buildAlert(track: AlertTrack, kind: AlertKind, answers: readonly Answer[], at: number, content: AlertContent): Alert {
  track.revision += 1;
  track.severity = content.severity;
  track.state = content.state;
  return create(AlertSchema, {
    id: track.id,
    revision: track.revision,
    kind,
    severity: content.severity,
    state: content.state,
    detectedAt: timestampFromMs(track.detectedAt),
    updatedAt: timestampFromMs(track.revision === 1 ? track.detectedAt : Math.max(at, track.detectedAt)),
    answers: content.state === AlertState.RESOLVED ? [] : [...answers],
    summary: content.summary,
    subject: content.subject,
  });
}
