/** The `sds` block of agent.conf: Envoy resource names and validator choice, without the Envoy schemas. @module */

/** The agent's `sds { … }` block (SPIRE's names and defaults). */
export interface SDSConfig {
  /** Resource name that returns the workload's first identity. Default "default". */
  defaultSVIDName: string;
  /** Resource name that returns the agent's own trust-domain bundle. Default "ROOTCA". */
  defaultBundleName: string;
  /** Resource name that returns every bundle in one SPIFFE validator. Default "ALL". */
  defaultAllBundlesName: string;
  /** Send a plain `trusted_ca` instead of the SPIFFE certificate validator. Default false. */
  disableSPIFFECertValidation: boolean;
}

export const DEFAULT_SDS_CONFIG: Readonly<SDSConfig> = Object.freeze({
  defaultSVIDName: "default",
  defaultBundleName: "ROOTCA",
  defaultAllBundlesName: "ALL",
  disableSPIFFECertValidation: false,
});
