/** gRPC method paths of the agent admin API (spire-api-sdk), shared by the services and the CLI that calls them. @module */

export const GET_INFO = "/spire.agent.debug.v1.Debug/GetInfo";

const LOGGER = "/spire.api.agent.logger.v1.Logger";
export const GET_LOGGER = `${LOGGER}/GetLogger`;
export const SET_LOG_LEVEL = `${LOGGER}/SetLogLevel`;
export const RESET_LOG_LEVEL = `${LOGGER}/ResetLogLevel`;

const DELEGATED = "/spire.api.agent.delegatedidentity.v1.DelegatedIdentity";
export const SUBSCRIBE_TO_X509_SVIDS = `${DELEGATED}/SubscribeToX509SVIDs`;
export const SUBSCRIBE_TO_X509_BUNDLES = `${DELEGATED}/SubscribeToX509Bundles`;
export const FETCH_JWT_SVIDS = `${DELEGATED}/FetchJWTSVIDs`;
export const SUBSCRIBE_TO_JWT_BUNDLES = `${DELEGATED}/SubscribeToJWTBundles`;
