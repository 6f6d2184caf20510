/** ConfigStatus: collects every configuration problem before failing once. @module */
import { ConfigError } from "../errors.ts";

/** One note produced while building a configuration. */
export interface ConfigNote {
  level: "error" | "info";
  msg: string;
}

/**
 * Collects errors and informational notes while a configuration is built, so a user sees every problem in one run
 * (SPIRE pkg/common/pluginconf Status).
 *
 * @example
 * const status = new ConfigStatus();
 * if (!raw.trust_domain) status.error("server.trust_domain must be configured");
 * status.throwIfErrors();
 */
export class ConfigStatus {
  readonly #notes: ConfigNote[] = [];
  readonly #read = new Set<string>();

  /** Records that a reader asked for the dotted key (ConfigSection does it), whether or not the file had it. */
  noteRead(key: string): void {
    this.#read.add(key);
  }

  /** Every dotted key some reader asked for: what the builder accepts (tests walk it so no key goes unchecked). */
  get keysRead(): readonly string[] {
    return [...this.#read];
  }

  /** Records a problem that makes the configuration unusable. */
  error(msg: string): void {
    this.#notes.push({ level: "error", msg });
  }

  /** Records a note worth showing (a questionable but accepted setting). */
  info(msg: string): void {
    this.#notes.push({ level: "info", msg });
  }

  /** Every note in the order it was recorded. */
  get notes(): readonly ConfigNote[] {
    return this.#notes;
  }

  get errors(): string[] {
    return this.#notes.filter((n) => n.level === "error").map((n) => n.msg);
  }

  get infos(): string[] {
    return this.#notes.filter((n) => n.level === "info").map((n) => n.msg);
  }

  get hasErrors(): boolean {
    return this.#notes.some((n) => n.level === "error");
  }

  /** @throws {ConfigError} listing every error recorded so far */
  throwIfErrors(): void {
    const errors = this.errors;
    if (errors.length > 0) throw new ConfigError(errors);
  }
}
