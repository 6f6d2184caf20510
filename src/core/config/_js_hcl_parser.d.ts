/** Type declarations for js-hcl-parser, which ships none (a GopherJS build of hashicorp/hcl v1). @module */
declare module "js-hcl-parser" {
  /** The CommonJS exports object. Both functions report failure in the returned string, never by throwing. */
  const hcl: {
    /** HCL (or JSON) text to indented JSON text, or "unable to parse JSON: <hcl error>". */
    parse(text: string): string;
    /** JSON text to HCL text, or "unable to parse HCL: <error>". */
    stringify(text: string): string;
  };
  export default hcl;
}
