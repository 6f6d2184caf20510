/** `$VAR` / `${VAR}` expansion of config text, as Go's os.ExpandEnv does it. @module */

/**
 * Replaces `$NAME` and `${NAME}` with `getenv(NAME)`, unset variables becoming "" (Go `os.ExpandEnv`, which SPIRE
 * applies to the whole file when `-expandEnv` is given). A `$` not followed by a name is kept.
 */
export function expandEnv(text: string, getenv: (name: string) => string | undefined): string {
  return text.replace(
    /\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g,
    (_m, braced: string | undefined, bare: string | undefined) => getenv((braced ?? bare)!) ?? "",
  );
}
