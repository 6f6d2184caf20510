/** A JWT signing key held in a CA slot. @module */
import type { Signer } from "../../core/crypto/signer.ts";
import type { SlotID } from "./journal.ts";

export interface JWTSigningKey {
  slot: SlotID;
  /** Key id published in the bundle (32 random alphanumerics, as SPIRE). */
  kid: string;
  signer: Signer;
  issuedAt: Date;
  notAfter: Date;
  authorityID: string;
}
