/**
 * The one place that loads @peculiar/x509. Its DI container (tsyringe) needs the Reflect metadata
 * polyfill before the library is evaluated, and ESM evaluates imports in order, so the polyfill comes first.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export { x509 };
