import { create, createFileRegistry, fromBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FieldDescriptorProto_Label, FieldDescriptorProto_Type } from "@bufbuild/protobuf/wkt";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { describeError } from "../../common/errors.js";
import { ActionResultSchema, file_secarc_v1_action } from "../../gen/secarc/v1/action_pb.js";
import { AgentMessageSchema, AgentService, file_secarc_v1_agent_service, type AgentMessage } from "../../gen/secarc/v1/agent_service_pb.js";
import { AlertSchema, file_secarc_v1_alert } from "../../gen/secarc/v1/alert_pb.js";

/**
 * The controller reads AgentMessage through a wire-compatible frame in which
 * `alert` and `action_result` are plain bytes (the same wire type as an
 * embedded message). The transport then never fails a whole stream over
 * one message: an alert or result that does not decode (invalid UTF-8 in a
 * string, a truncated field) becomes a `malformed` inbound message, which
 * the stream answers with an AlertReject / ResultReject and goes on.
 * Hello and Heartbeat are decoded as usual: a broken Hello ends the stream.
 */
const { MESSAGE, BYTES } = FieldDescriptorProto_Type;
const OPTIONAL = FieldDescriptorProto_Label.OPTIONAL;
const frameFile = create(FileDescriptorProtoSchema, {
  name: "secarc/internal/agent_frame.proto",
  package: "secarc.internal",
  syntax: "proto3",
  dependency: ["secarc/v1/agent_service.proto", "secarc/v1/action.proto", "secarc/v1/alert.proto"],
  messageType: [
    {
      name: "AgentFrame",
      oneofDecl: [{ name: "payload" }],
      field: [
        { name: "hello", jsonName: "hello", number: 1, label: OPTIONAL, type: MESSAGE, typeName: ".secarc.v1.Hello", oneofIndex: 0 },
        { name: "alert", jsonName: "alert", number: 2, label: OPTIONAL, type: BYTES, oneofIndex: 0 },
        { name: "action_result", jsonName: "actionResult", number: 3, label: OPTIONAL, type: BYTES, oneofIndex: 0 },
        { name: "heartbeat", jsonName: "heartbeat", number: 4, label: OPTIONAL, type: MESSAGE, typeName: ".secarc.v1.Heartbeat", oneofIndex: 0 },
      ],
    },
  ],
});
const imports = new Map([file_secarc_v1_agent_service, file_secarc_v1_action, file_secarc_v1_alert].map((file) => [`${file.name}.proto`, file]));
const frameRegistry = createFileRegistry(frameFile, (name) => imports.get(name));
export const AgentFrameSchema = frameRegistry.getMessage("secarc.internal.AgentFrame") as DescMessage;

type AgentFrame = MessageShape<typeof AgentFrameSchema> & { payload: { case: string | undefined; value?: unknown } };

/** AgentService with Connect reading AgentFrame: the same path and wire format, for the server's router. */
export const LenientAgentService: typeof AgentService = (() => {
  const connect = { ...AgentService.method.connect, input: AgentFrameSchema };
  const service: DescService = { ...AgentService, methods: [connect], method: { connect } };
  return service as unknown as typeof AgentService;
})();

/** One message from an agent: decoded (an alert with its bytes as received, which the store keeps as they are), or an alert/result that could not be decoded. */
export type InboundMessage =
  | { ok: true; message: AgentMessage; alertBody?: Uint8Array }
  | { ok: false; case: "alert"; alertId: string; revision: number; detail: string }
  | { ok: false; case: "actionResult"; actionId: string; detail: string };

/** Decodes the bytes payloads of a frame; never throws. */
export function decodeFrame(raw: unknown): InboundMessage {
  const frame = raw as AgentFrame;
  const payload = frame.payload;
  if (payload.case === "alert") {
    const bytes = payload.value as Uint8Array;
    try {
      return { ok: true, message: create(AgentMessageSchema, { payload: { case: "alert", value: fromBinary(AlertSchema, bytes) } }), alertBody: bytes };
    } catch (err) {
      const { id, number } = readIdentity(bytes);
      return { ok: false, case: "alert", alertId: id, revision: number, detail: `the alert does not decode: ${describeError(err)}` };
    }
  }
  if (payload.case === "actionResult") {
    const bytes = payload.value as Uint8Array;
    try {
      return { ok: true, message: create(AgentMessageSchema, { payload: { case: "actionResult", value: fromBinary(ActionResultSchema, bytes) } }) };
    } catch (err) {
      return { ok: false, case: "actionResult", actionId: readIdentity(bytes).id, detail: `the result does not decode: ${describeError(err)}` };
    }
  }
  if (payload.case === "hello" || payload.case === "heartbeat") return { ok: true, message: create(AgentMessageSchema, { payload: payload as AgentMessage["payload"] }) };
  return { ok: true, message: create(AgentMessageSchema, {}) };
}

/**
 * Field 1 (a string, read without UTF-8 validation: invalid bytes become
 * U+FFFD) and field 2 (a varint) of a message that does not decode as a
 * whole: the id and revision of an Alert, the action id of an ActionResult.
 */
function readIdentity(bytes: Uint8Array): { id: string; number: number } {
  let id = "";
  let number = 0;
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) id = reader.string();
      else if (field === 2 && wireType === WireType.Varint) number = reader.uint32();
      else reader.skip(wireType, field);
    }
  } catch {
    // Whatever was read before the damage.
  }
  return { id, number };
}
