import type { X509Certificate } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createContextKey } from "@connectrpc/connect";
import { ResponseActionSchema } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord } from "../store/store.js";

/** What the TLS layer knows about the peer of a stream, set by the server through contextValues. */
export interface PeerInfo {
  /** The verified client certificate's identity (common name), if any. */
  identity: string | undefined;
  /** The verified client certificate, if any. */
  certificate?: X509Certificate | undefined;
  /** Its serial, lowercase hex without leading zeros. */
  serial?: string | undefined;
  /** The remote address, for logs. */
  remote: string;
}

export const peerKey = createContextKey<PeerInfo>({ identity: undefined, remote: "unknown" }, { description: "secarc peer" });

/** "PERMISSION_DENIED" for Code.PermissionDenied: the gRPC spelling, as agents see it. */
export function statusName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function toResponseAction(action: ActionRecord) {
  return create(ResponseActionSchema, {
    actionId: action.actionId,
    alertId: action.alertId ?? "",
    answer: action.answer,
    requestedBy: action.operator,
    requestedAt: timestampFromMs(action.requestedAt.getTime()),
    ...(action.options ? { options: action.options } : {}),
    ...(action.target ? { target: action.target } : {}),
  });
}
