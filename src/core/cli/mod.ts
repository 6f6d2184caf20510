/** The CLI foundation: Go-flag grammar, command registry and runner, help, printers, usage errors. @module */
export * from "./flags.ts";
export * from "./command.ts";
export * from "./help.ts";
export * from "./printer.ts";
export * from "./usage_errors.ts";
