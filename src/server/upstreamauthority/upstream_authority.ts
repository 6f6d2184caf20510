/** The UpstreamAuthority port: who signs this server's intermediate CA when it is not self-signed. @module */

export interface MintedX509CA {
  /** The new CA certificate followed by any upstream intermediates (never the root), DER. */
  x509CAChain: Uint8Array[];
  /** Upstream roots that go into the trust bundle, DER. */
  upstreamX509Roots: Uint8Array[];
}

export interface UpstreamAuthority {
  /** Name for logs and health ("disk", "aws_pca"). */
  readonly name: string;
  /** Signs the CA CSR (DER) for `ttlSeconds`. */
  mintX509CA(csrDER: Uint8Array, ttlSeconds: number, signal?: AbortSignal): Promise<MintedX509CA>;
}
