/**
 * The aws_iid agent node attestor (SPIRE pkg/agent/plugin/nodeattestor/awsiid): reads the instance identity document
 * and its two signatures from the EC2 instance metadata service (IMDSv2 session token first, IMDSv1 when the service
 * does not offer tokens, as the AWS SDK does) and sends them as SPIRE's payload. No challenge.
 * @module
 */
import { InternalError, InvalidArgumentError, UnavailableError } from "../../core/errors.ts";
import type { AgentNodeAttestor } from "./node_attestor.ts";

export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254";
/** The SDK's default session-token TTL, in seconds. */
const TOKEN_TTL_SECONDS = 300;
/** The SDK's per-operation timeout (api_client.go). */
const OP_TIMEOUT_MS = 5_000;
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const PATHS = {
  document: "/latest/dynamic/instance-identity/document",
  signature: "/latest/dynamic/instance-identity/signature",
  rsa2048: "/latest/dynamic/instance-identity/rsa2048",
} as const;

export interface AWSIIDAgentOptions {
  /** `ec2_metadata_endpoint`; default env AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254. */
  endpoint?: string | undefined;
  env?: (name: string) => string | undefined;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
}

/** Resolves the IMDS base URL: the SDK replaces the endpoint's path, so only scheme, host and port count. */
export function imdsBaseURL(o: AWSIIDAgentOptions): string {
  const raw = o.endpoint || o.env?.("AWS_EC2_METADATA_SERVICE_ENDPOINT") || DEFAULT_IMDS_ENDPOINT;
  let u: URL;
  try {
    u = new URL(raw);
  } catch (cause) {
    throw new InvalidArgumentError(`ec2_metadata_endpoint "${raw}" is not a valid URL`, { cause });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new InvalidArgumentError(`ec2_metadata_endpoint "${raw}" must be an http or https URL`);
  return `${u.protocol}//${u.host}`;
}

/** Agent-side aws_iid. */
export class AWSIIDAgentAttestor implements AgentNodeAttestor {
  readonly name = "aws_iid";
  readonly #base: string;
  readonly #fetch: typeof fetch;
  /** undefined: not tried yet; null: the service does not offer tokens (IMDSv1). */
  #token: { value: string; expiresAt: number } | null | undefined;

  constructor(o: AWSIIDAgentOptions = {}) {
    this.#base = imdsBaseURL(o);
    this.#fetch = o.fetch ?? fetch;
  }

  get endpoint(): string {
    return this.#base;
  }

  async payload(signal?: AbortSignal): Promise<Uint8Array> {
    const document = await this.#get(PATHS.document, signal);
    const signature = await this.#get(PATHS.signature, signal);
    const rsa2048 = await this.#get(PATHS.rsa2048, signal);
    return new TextEncoder().encode(JSON.stringify({ document, signature, rsa2048 }));
  }

  async challenge(): Promise<Uint8Array> {
    throw new InternalError("aws_iid does not answer challenges");
  }

  async #request(path: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(OP_TIMEOUT_MS);
    const s = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return await this.#fetch(this.#base + path, { ...init, signal: s });
    } catch (cause) {
      const why = timeout.aborted
        ? `no answer within ${OP_TIMEOUT_MS / 1000}s`
        : cause instanceof Error
        ? (cause.cause instanceof Error ? cause.cause.message : cause.message)
        : String(cause);
      throw new UnavailableError(`unable to reach the EC2 instance metadata service at ${this.#base}: ${why}`, { cause });
    }
  }

  /** An IMDSv2 session token, or null when the service only speaks IMDSv1. */
  async #sessionToken(signal: AbortSignal | undefined, refresh = false): Promise<string | null> {
    if (!refresh && this.#token === null) return null;
    if (!refresh && this.#token && this.#token.expiresAt > Date.now()) return this.#token.value;
    const res = await this.#request("/latest/api/token", { method: "PUT", headers: { [TTL_HEADER]: String(TOKEN_TTL_SECONDS) } }, signal);
    const body = await res.text();
    if (res.status === 403 || res.status === 404 || res.status === 405) {
      this.#token = null;
      return null;
    }
    if (!res.ok) {
      const Err = res.status >= 500 ? UnavailableError : InternalError;
      throw new Err(`failed to get an EC2 metadata session token from ${this.#base}: HTTP ${res.status}`);
    }
    const ttl = Number(res.headers.get(TTL_HEADER));
    // The SDK treats a token without the echoed TTL as "no token support" and falls back to IMDSv1.
    if (!Number.isInteger(ttl) || ttl <= 0) {
      this.#token = null;
      return null;
    }
    this.#token = { value: body, expiresAt: Date.now() + ttl * 1000 - 15_000 };
    return body;
  }

  async #get(path: string, signal: AbortSignal | undefined): Promise<string> {
    for (let attempt = 0;; attempt++) {
      const token = await this.#sessionToken(signal, attempt > 0);
      const res = await this.#request(path, { method: "GET", headers: token === null ? {} : { "x-aws-ec2-metadata-token": token } }, signal);
      const body = await res.text();
      if (res.ok) return body;
      if (res.status === 401 && attempt === 0) continue;
      const Err = res.status >= 500 ? UnavailableError : InternalError;
      throw new Err(`failed to get ${path} from the EC2 instance metadata service at ${this.#base}: HTTP ${res.status}`);
    }
  }
}
