/** server.conf `NodeAttestor "x509pop"`: keys, defaults and checks of SPIRE's x509pop server plugin. @module */
import type * as config from "../../../core/config/mod.ts";
import { checkAgentPathTemplate } from "../agent_path_template.ts";

/** The validated server x509pop config. */
export interface X509PoPServerConfig {
  name: "x509pop";
  /** "external_pki" (default): certificates from an operator CA; "spiffe": the agent presents an SVID of this server's trust domain. */
  mode: "external_pki" | "spiffe";
  /** PEM CA bundles the node certificates must chain to (external_pki only; exactly one of ca_bundle_path/ca_bundle_paths). */
  caBundlePaths: string[];
  /** spiffe mode: SVID path prefix that is required and trimmed. Default "/spire-exchange/", trailing "/" added. */
  spiffePrefix: string;
  /** Go template of the agent ID path after /spire/agent. Default per mode, see defaultX509PoPAgentPathTemplate. */
  agentPathTemplate: string;
  /** Most intermediates accepted in the attestation data. Default 4. */
  maxIntermediates: number;
  /** Largest RSA leaf key, bits. Default 8192. */
  maxRSAKeySize: number;
  /** Require the agent's connection IP among the leaf's IP SANs. Default false. */
  verifyClientIP: boolean;
}

/** SPIRE's default agent path templates. */
export const X509POP_DEFAULT_TEMPLATES = {
  external_pki: "/{{ .PluginName }}/{{ .Fingerprint }}",
  spiffe: "/{{ .PluginName }}/{{ .SVIDPathTrimmed }}",
} as const;

/** Reads a NodeAttestor "x509pop" plugin_data block, recording every problem in `status`. */
export function buildX509PoPServerConfig(data: config.ConfigSection, status: config.ConfigStatus): X509PoPServerConfig {
  const modeText = data.string("mode") || "external_pki";
  let mode: X509PoPServerConfig["mode"] = "external_pki";
  if (modeText === "external_pki" || modeText === "spiffe") mode = modeText;
  else status.error(`${data.key("mode")}: mode can only be either "external_pki" or "spiffe", got "${modeText}"`);
  const one = data.string("ca_bundle_path") || undefined;
  const many = data.stringList("ca_bundle_paths");
  const caBundlePaths = [...(one ? [one] : []), ...(many ?? [])];
  if (mode === "external_pki") {
    if (one && many) status.error(`${data.path}: only one of ca_bundle_path or ca_bundle_paths can be configured, not both`);
    else if (caBundlePaths.length === 0) status.error(`${data.path}: one of ca_bundle_path or ca_bundle_paths must be configured`);
  } else if (one || many) {
    status.error(`${data.path}: ca_bundle_path and ca_bundle_paths can only be used in "external_pki" mode`);
  }
  let spiffePrefix = data.string("spiffe_prefix");
  if (spiffePrefix !== undefined && mode !== "spiffe") {
    status.error(`${data.key("spiffe_prefix")} can only be used in "spiffe" mode`);
  }
  spiffePrefix = spiffePrefix || "/spire-exchange/";
  if (!spiffePrefix.startsWith("/")) status.error(`${data.key("spiffe_prefix")} must start with "/", got "${spiffePrefix}"`);
  if (!spiffePrefix.endsWith("/")) spiffePrefix += "/";
  const agentPathTemplate = data.string("agent_path_template") || X509POP_DEFAULT_TEMPLATES[mode];
  try {
    checkAgentPathTemplate(agentPathTemplate);
  } catch (err) {
    status.error(`${data.key("agent_path_template")}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    name: "x509pop",
    mode,
    caBundlePaths,
    spiffePrefix,
    agentPathTemplate,
    maxIntermediates: data.int("max_intermediates", { min: 0 }) ?? 4,
    maxRSAKeySize: data.int("max_rsa_key_size", { min: 1 }) ?? 8192,
    verifyClientIP: data.bool("verify_client_ip") ?? false,
  };
}
