/** Config parsing helpers shared by the server and the agent: status, durations, HCL/JSON files, typed reads. @module */
export * from "./status.ts";
export * from "./duration.ts";
export * from "./section.ts";
export * from "./normalize.ts";
export * from "./expand_env.ts";
export * from "./hcl.ts";
export * from "./plugins.ts";
export * from "./common.ts";
export * from "./merge.ts";
export * from "./placement.ts";
export * from "./telemetry.ts";
