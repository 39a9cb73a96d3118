/** SecARC's release version: reported by `secarc --version`, in Hello and in Welcome. Keep in step with package.json. */
export const SECARC_VERSION = "0.1.0";

/** The protobuf package of the agent ↔ controller protocol (proto/secarc/v1). */
export const PROTOCOL_PACKAGE = "secarc.v1";
