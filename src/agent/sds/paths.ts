/** The SDS v3 method paths and how each streams: what the agent registers before the SDS code is loaded. @module */
import type { MethodShape } from "../workload/lazy_methods.ts";

export const STREAM_SECRETS = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";
export const FETCH_SECRETS = "/envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets";
export const DELTA_SECRETS = "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets";

export const SDS_METHODS: MethodShape[] = [
  { path: STREAM_SECRETS, kind: "bidi_stream" },
  { path: FETCH_SECRETS, kind: "unary" },
  { path: DELTA_SECRETS, kind: "bidi_stream" },
];
