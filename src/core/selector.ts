/** Selectors, the facts attestors produce and registration entries match on, such as "unix:uid:1000". @module */
import { InvalidArgumentError } from "./errors.ts";

/** A selector: type "unix" with value "uid:1000" is written "unix:uid:1000". */
export interface Selector {
  type: string;
  value: string;
}

/**
 * Parses "type:value", splitting at the first colon as SPIRE's `ParseSelector` does (the value may contain colons).
 * @throws {InvalidArgumentError} with code ERR_SELECTOR_INVALID when the type or the value is missing
 */
export function parseSelector(s: string): Selector {
  const i = s.indexOf(":");
  if (i <= 0 || i === s.length - 1) {
    throw new InvalidArgumentError(`selector "${s}" must be formatted as type:value`, { code: "ERR_SELECTOR_INVALID" });
  }
  return { type: s.slice(0, i), value: s.slice(i + 1) };
}

/** Formats a selector as "type:value". */
export function formatSelector(s: Selector): string {
  return `${s.type}:${s.value}`;
}
