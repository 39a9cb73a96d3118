import type { Answer, ResponseAction, ResultStatus } from "../../gen/secarc/v1/action_pb.js";

/**
 * A responder carries out answers. It is a plug-in with one file under
 * agent/responders/, registered in the typed registry keyed by Answer; the
 * agent advertises the registry's keys in Hello.actions.
 *
 * `execute` validates its input (the action is untrusted), runs programs
 * with execFile and an argument vector, and never throws: every result,
 * failures included, is a ResponderResult.
 */
export interface Responder {
  readonly name: string;
  readonly answers: readonly Answer[];
  execute(action: ResponseAction): Promise<ResponderResult>;
}

export interface ResponderResult {
  status: ResultStatus;
  /** Shown to the operator: "198.51.100.23 blocked for 24h", "refused: ...". */
  detail: string;
  dryRun?: boolean;
  /** For blocks: when the block ends; undefined = until unblocked. */
  expiresAt?: Date;
  /** BLOCK_IP: the address or network the block covers ("2001:db8:1:2::/64"); UNBLOCK_IP: the ones lifted. */
  networks?: string[];
}
