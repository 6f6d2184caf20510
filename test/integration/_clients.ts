/** Independent Workload API clients for integration tests (grpc-js + proto-loader, Python grpcio) and checks of what they receive. @module */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { type ChildProcess, spawn } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SECURITY_HEADER } from "../clients/raw_h2.ts";
import { type Cluster, NODE, ROOT, run, type RunResult, waitFor, wispServer } from "./_harness.ts";

export { SECURITY_HEADER };

export const PYTHON = "/usr/bin/python3";
export const PY_CLIENT = join(ROOT, "test/clients/workload_client.py");
export const TRUST_DOMAIN_ID = "spiffe://example.org";

/** X509SVID as proto-loader decodes it (keepCase, bytes as Buffer). */
export interface X509SVIDMsg {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
export interface X509SVIDResponseMsg {
  svids: X509SVIDMsg[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
export interface X509BundlesResponseMsg {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}
export interface RPCStatus {
  code: number;
  details: string;
}

type WorkloadClient = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>>;

/** A grpc-js client built from proto/workload.proto alone; `ownConnection` gives it a connection no other client shares. */
export function workloadClient(socketPath: string, o: { ownConnection?: boolean } = {}): WorkloadClient {
  const def = protoLoader.loadSync(join(ROOT, "proto/workload.proto"), { keepCase: true, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: grpc.ServiceClientConstructor };
  const options: grpc.ChannelOptions = o.ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {};
  return new pkg.SpiffeWorkloadAPI(`unix://${socketPath}`, grpc.credentials.createInsecure(), options) as unknown as WorkloadClient;
}

/** Metadata carrying the security header with the given values (none when empty). */
export function headerMetadata(...values: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const v of values) md.add(SECURITY_HEADER, v);
  return md;
}

/** A server stream whose messages and final status are recorded as they arrive. */
export class Watch<T> {
  readonly messages: T[] = [];
  status: RPCStatus | undefined;
  readonly call: grpc.ClientReadableStream<T>;
  firstAt: number | undefined;
  readonly startedAt = performance.now();

  constructor(call: grpc.ClientReadableStream<T>) {
    this.call = call;
    call.on("data", (m: T) => {
      this.firstAt ??= performance.now();
      this.messages.push(m);
    });
    call.on("error", (e: grpc.ServiceError) => (this.status ??= { code: e.code, details: e.details }));
    call.on("status", (s: grpc.StatusObject) => (this.status ??= { code: s.code, details: s.details }));
  }

  /** Resolves once `n` messages in total have arrived; rejects if the stream ends first. */
  messagesAtLeast(n: number, what: string, timeoutMs = 15_000): Promise<T[]> {
    return waitFor(what, async () => {
      if (this.messages.length >= n) return this.messages;
      if (this.status !== undefined) throw new Error(`stream ended with ${this.status.code} "${this.status.details}" after ${this.messages.length} messages`);
      return undefined;
    }, timeoutMs);
  }

  ended(what: string, timeoutMs = 15_000): Promise<RPCStatus> {
    return waitFor(what, async () => this.status, timeoutMs);
  }

  cancel(): void {
    this.call.cancel();
  }
}

export function watchX509SVID(client: WorkloadClient, md = headerMetadata("true")): Watch<X509SVIDResponseMsg> {
  return new Watch(client["FetchX509SVID"]!({}, md) as grpc.ClientReadableStream<X509SVIDResponseMsg>);
}

export function watchX509Bundles(client: WorkloadClient, md = headerMetadata("true")): Watch<X509BundlesResponseMsg> {
  return new Watch(client["FetchX509Bundles"]!({}, md) as grpc.ClientReadableStream<X509BundlesResponseMsg>);
}

/** Opens a stream, returns its first message or its status, and cancels it. */
export async function first<T>(w: Watch<T>, timeoutMs = 15_000): Promise<{ message: T } | { status: RPCStatus }> {
  const r = await waitFor("first message or status", async () => {
    if (w.messages[0] !== undefined) return { message: w.messages[0] };
    if (w.status !== undefined) return { status: w.status };
    return undefined;
  }, timeoutMs);
  w.cancel();
  return r;
}

/** Calls any method path with a raw request body (for bad input), returning the first raw message or the status. */
export function rawServerStream(client: grpc.Client, path: string, body: Buffer, md: grpc.Metadata): Watch<Buffer> {
  const call = client.makeServerStreamRequest<Buffer, Buffer>(path, (b) => b, (b) => b, body, md);
  return new Watch(call);
}

/** Splits concatenated ASN.1 DER values (certificate chains and bundles). */
export function splitDER(bytes: Uint8Array): Buffer[] {
  const buf = Buffer.from(bytes);
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    if (buf[i] !== 0x30) throw new Error(`byte ${i} is not the start of a DER SEQUENCE`);
    let len = buf[i + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = buf.readUIntBE(i + 2, n);
      hdr += n;
    }
    if (i + hdr + len > buf.length) throw new Error(`DER value at byte ${i} runs past the end`);
    out.push(buf.subarray(i, i + hdr + len));
    i += hdr + len;
  }
  return out;
}

/** The SPIFFE IDs a certificate's SAN holds. */
export function uriSANs(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "").split(", ").filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * Checks one X509SVID the way a SPIFFE library would, and returns its parsed leaf. Throws with the reason when a
 * byte field is not what the Workload API spec says.
 */
export function checkX509SVID(s: { spiffe_id: string; x509_svid: Uint8Array; x509_svid_key: Uint8Array; bundle: Uint8Array }): X509Certificate {
  const chain = splitDER(s.x509_svid).map((d) => new X509Certificate(d));
  const roots = splitDER(s.bundle).map((d) => new X509Certificate(d));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error("x509_svid holds no certificate");
  if (roots.length === 0) throw new Error("bundle holds no certificate");
  const sans = uriSANs(leaf);
  if (sans.length !== 1 || sans[0] !== s.spiffe_id) throw new Error(`leaf URI SANs ${JSON.stringify(sans)} are not ["${s.spiffe_id}"]`);
  if (leaf.ca) throw new Error("leaf is a CA certificate");
  for (let i = 0; i < chain.length - 1; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) throw new Error(`chain certificate ${i} is not issued by certificate ${i + 1}`);
  }
  const top = chain[chain.length - 1]!;
  if (!roots.some((r) => issuedBy(top, r))) throw new Error("chain is not issued by any bundle certificate");
  for (const r of roots) if (!r.ca) throw new Error("bundle holds a certificate that is not a CA");
  const key = createPrivateKey({ key: Buffer.from(s.x509_svid_key), format: "der", type: "pkcs8" });
  const fromKey = createPublicKey(key).export({ type: "spki", format: "der" });
  const fromLeaf = leaf.publicKey.export({ type: "spki", format: "der" });
  if (!fromKey.equals(fromLeaf)) throw new Error("x509_svid_key does not match the leaf public key");
  return leaf;
}

/** Generates Python stubs for proto/workload.proto into `<dir>/py`, readable by other uids. */
export async function pythonStubs(dir: string): Promise<string> {
  const out = join(dir, "py");
  mkdirSync(out, { recursive: true, mode: 0o755 });
  const r = await run(PYTHON, ["-m", "grpc_tools.protoc", "-I", "proto", `--python_out=${out}`, `--grpc_python_out=${out}`, "proto/workload.proto"]);
  if (r.code !== 0) throw new Error(`protoc failed: ${r.stderr}`);
  return out;
}

/** Runs test/clients/workload_client.py to completion. */
export function runPython(stubs: string, args: string[], asUser = 1000): Promise<RunResult> {
  return run(PYTHON, [PY_CLIENT, "--stubs", stubs, ...args], { asUser, env: { PYTHONDONTWRITEBYTECODE: "1" }, timeoutMs: 30_000 });
}

/** A Python client in watch mode: each JSON line it prints is kept as it arrives. */
export class PythonWatcher {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  #partial = "";

  constructor(stubs: string, args: string[], asUser = 1000) {
    this.child = spawn("setpriv", [`--reuid=${asUser}`, `--regid=${asUser}`, "--clear-groups", PYTHON, PY_CLIENT, "--stubs", stubs, ...args], {
      cwd: ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (d: Buffer) => {
      const text = this.#partial + d.toString();
      const parts = text.split("\n");
      this.#partial = parts.pop() ?? "";
      for (const p of parts) if (p.trim() !== "") this.lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    this.child.stderr!.on("data", (d) => (this.stderr += d));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async line(what: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return waitFor(what, async () => {
      const l = this.lines.find(pred);
      if (l !== undefined) return l;
      if (this.exited && this.lines.find(pred) === undefined) throw new Error(`python exited: ${this.stderr}${JSON.stringify(this.lines)}`);
      return undefined;
    }, timeoutMs);
  }

  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once("exit", r));
    this.child.kill(signal);
    await done;
  }
}

/** Creates a workload entry under the node alias and returns its ID. */
export async function createEntry(c: Cluster, o: { spiffeID: string; selector: string; ttl?: number; parentID?: string }): Promise<string> {
  const r = await wispServer([
    "entry",
    "create",
    "-socketPath",
    c.serverSocket,
    "-output",
    "json",
    "-parentID",
    o.parentID ?? "spiffe://example.org/node1",
    "-spiffeID",
    o.spiffeID,
    "-selector",
    o.selector,
    ...(o.ttl === undefined ? [] : ["-x509SVIDTTL", String(o.ttl)]),
  ]);
  if (r.code !== 0) throw new Error(`entry create failed: ${r.stderr}${r.stdout}`);
  return (JSON.parse(r.stdout) as { results: { entry: { id: string } }[] }).results[0]!.entry.id;
}

export async function deleteEntry(c: Cluster, id: string): Promise<void> {
  const r = await wispServer(["entry", "delete", "-socketPath", c.serverSocket, "-entryID", id]);
  if (r.code !== 0) throw new Error(`entry delete failed: ${r.stderr}${r.stdout}`);
}

/** Resident set size of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** What `test/runtime/node/_workload_client.ts first` prints: the first X509SVIDResponse (bytes as base64) or the error. */
export interface ChildClientResult {
  pid: number;
  first?: { svids: Record<string, string>[] };
  error?: { code: number; details: string };
}

/**
 * Runs the independent grpc-js client (test/runtime/node/_workload_client.ts) as `uid`, always on Node, whatever
 * runtime serves the socket, and resolves with its first response.
 */
export function childGRPCClient(socketPath: string, uid: number): Promise<ChildClientResult> {
  const client = join(ROOT, "test/runtime/node/_workload_client.ts");
  const child = spawn("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", NODE, "--import", "tsx", client, socketPath, "first"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "", err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}: ${err}${out}`))));
  });
}
