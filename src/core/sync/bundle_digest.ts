/**
 * A digest of a federated bundle's content as the sync stream carries it, computed alike by server and agent. A
 * reconnecting agent names the federated bundles it holds by this digest rather than by the datastore's sequence:
 * a bundle deleted and set again starts its sequence over, so only the content says whether the agent is current.
 * @module
 */
import { hash64, hex64 } from "./entry_set_digest.ts";

export interface BundleContentJSON {
  x509_authorities: string[];
  jwt_authorities: { kid: string; public_key: string; expires_at: number }[];
}

/** 16 lowercase hex digits over the authorities in order (the server sends them in its stored order). */
export function bundleDigest(b: BundleContentJSON): string {
  const jwt = b.jwt_authorities.map((k) => `${k.kid}=${k.public_key}@${k.expires_at}`);
  return hex64(hash64(`${b.x509_authorities.join(",")}\n${jwt.join(",")}`));
}
