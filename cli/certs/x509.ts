import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * @peculiar/x509 wired to Node's WebCrypto. Import x509 from here, never
 * from the package directly, so that the provider is always set.
 */
x509.cryptoProvider.set(webcrypto);

export { x509 };

/** Node's WebCrypto, the provider @peculiar/x509 uses. */
export const crypto = webcrypto;
