/**
 * An independent client of SPIRE's server API for conformance tests: @grpc/grpc-js with the vendored spire-api-sdk
 * protos (proto/spire) loaded at run time by @grpc/proto-loader (protobufjs), so nothing of the server's protobuf-es
 * code is involved. It keeps a log of the calls it made, so a test can assert a tool's call sequence.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";
import { ROOT } from "./_harness.ts";

const SERVICES = ["agent", "bundle", "debug", "entry", "localauthority", "logger", "svid", "trustdomain"];

/** A message as proto-loader decodes it: snake_case keys, int64 as numbers, enums as names, defaults filled in. */
// deno-lint-ignore no-explicit-any
export type Msg = Record<string, any>;

/** One call made through the client, for asserting what a replayed tool sent. */
export interface LoggedCall {
  method: string;
  request: Msg;
}

/** A failed call: the gRPC status code name (as SPIRE's clients compare it) and details. */
export class RPCError extends Error {
  readonly method: string;
  readonly code: string;
  readonly details: string;
  constructor(method: string, code: string, details: string) {
    super(`${method}: ${code}: ${details}`);
    this.name = "RPCError";
    this.method = method;
    this.code = code;
    this.details = details;
  }
}

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/** Every server service of spire-api-sdk plus grpc.health.v1, as proto-loader reads them from proto/. */
export function loadSpireServerAPI(): protoLoader.PackageDefinition {
  const files = SERVICES.map((n) => `spire/api/server/${n}/v1/${n}.proto`).concat("health.proto");
  return protoLoader.loadSync(files, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [join(ROOT, "proto")] });
}

/** The methods of every service in `def`: full path → definition. */
export function methodsOf(def: protoLoader.PackageDefinition): Map<string, protoLoader.MethodDefinition<object, object>> {
  const out = new Map<string, protoLoader.MethodDefinition<object, object>>();
  for (const v of Object.values(def)) {
    if ("format" in v) continue;
    for (const m of Object.values(v as protoLoader.ServiceDefinition)) out.set(m.path, m as protoLoader.MethodDefinition<object, object>);
  }
  return out;
}

/** A unary client of every SPIRE server API method over the admin socket (insecure, as the tools dial it). */
export class SpireProtoClient {
  readonly log: LoggedCall[] = [];
  readonly #client: grpc.Client;
  readonly #methods: Map<string, protoLoader.MethodDefinition<object, object>>;

  constructor(socketPath: string, def: protoLoader.PackageDefinition = loadSpireServerAPI()) {
    this.#methods = methodsOf(def);
    this.#client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  /** Calls `/<package>.<Service>/<Rpc>`; rejects with RPCError on a non-OK status. */
  call(path: string, request: Msg = {}): Promise<Msg> {
    const m = this.#methods.get(path);
    if (!m) return Promise.reject(new Error(`no method ${path} in the loaded protos`));
    this.log.push({ method: path.slice(path.lastIndexOf("/") + 1), request });
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        path,
        m.requestSerialize as (v: Msg) => Buffer,
        m.responseDeserialize as (b: Buffer) => Msg,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 20_000 },
        (err, res) => (err ? reject(new RPCError(path, CODE_NAMES[err.code] ?? String(err.code), err.details)) : resolve(res!)),
      );
    });
  }

  /**
   * Sends `raw` bytes (not necessarily a valid message) to `path` and resolves with the status code name the server
   * answers; `stream` opens a bidi stream instead of a unary call. Used to tell served methods from unserved ones
   * without side effects.
   */
  probe(path: string, raw: Uint8Array, stream: boolean): Promise<string> {
    const ser = () => Buffer.from(raw);
    const de = (b: Buffer) => b;
    return new Promise((resolve) => {
      const done = (err: grpc.ServiceError | null) => resolve(err ? (CODE_NAMES[err.code] ?? String(err.code)) : "OK");
      const deadline = Date.now() + 10_000;
      if (!stream) {
        this.#client.makeUnaryRequest(path, ser, de, {}, new grpc.Metadata(), { deadline }, (err) => done(err));
        return;
      }
      const call = this.#client.makeBidiStreamRequest(path, ser, de, new grpc.Metadata(), { deadline });
      let settled = false;
      const finish = (err: grpc.ServiceError | null) => {
        if (settled) return;
        settled = true;
        resolve(err ? (CODE_NAMES[err.code] ?? String(err.code)) : "OK");
        call.cancel();
      };
      call.on("data", () => finish(null));
      call.on("error", (err: grpc.ServiceError) => finish(err));
      call.on("end", () => finish(null));
      call.write({});
      call.end();
    });
  }

  /** The calls logged since `from` whose method is `method`. */
  sent(method: string, from = 0): Msg[] {
    return this.log.slice(from).filter((c) => c.method === method).map((c) => c.request);
  }

  close(): void {
    this.#client.close();
  }
}
