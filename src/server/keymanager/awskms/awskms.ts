/**
 * KeyManager "aws_kms": CA and JWT keys live in AWS KMS and never leave it (SPIRE keymanager/awskms). Keys are found
 * again after a restart through aliases `alias/SPIRE_SERVER/<td>/<server id>/<key id>`, so a restart reuses them.
 * @module
 */
import type { Signer } from "../../../core/crypto/signer.ts";
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ServiceError,
  UnauthenticatedError,
  UnavailableError,
} from "../../../core/errors.ts";
import type { Logger } from "../../../core/log/logger.ts";
import type { Clock } from "../../../core/ports/clock.ts";
import type { FS } from "../../../core/ports/fs.ts";
import type { Key, KeyManager, KeyType } from "../key_manager.ts";
import { type KMSClient, kmsErrorCode } from "./kms_port.ts";

export interface AWSKMSConfig {
  client: KMSClient;
  /** Trust domain name; part of every alias and key description. */
  trustDomain: string;
  /** File holding this server's ID (a UUIDv4, created with mode 0600 when missing). One of file/value. */
  keyIdentifierFile?: string | undefined;
  /** A fixed server ID. One of file/value. */
  keyIdentifierValue?: string | undefined;
  /** Key policy JSON for new keys (key_policy_file's content). Default: SPIRE's policy for the assumed role. */
  keyPolicy?: string | undefined;
  fs: FS;
  clock: Clock;
  logger: Logger;
}

/** SPIRE's pending window for replaced keys. */
export const DELETION_WINDOW_DAYS = 7;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** SPIRE's encodeKeyID: KMS alias names allow neither "." nor "+". */
const encodeKeyID = (id: string) => id.replaceAll(".", "_2e").replaceAll("+", "_2b");
const decodeKeyID = (id: string) => id.replaceAll("_2e", ".").replaceAll("_2b", "+");

interface Entry {
  key: Key;
  arn: string;
}

export class AWSKMSKeyManager implements KeyManager {
  readonly serverID: string;
  #cfg: AWSKMSConfig;
  #log: Logger;
  #entries = new Map<string, Entry>();
  #lock: Promise<unknown> = Promise.resolve();
  #policy: { value: string | undefined } | undefined;
  #deletions: string[] = [];
  #drain: Promise<void> = Promise.resolve();
  #closed = new AbortController();

  private constructor(cfg: AWSKMSConfig, serverID: string) {
    this.#cfg = cfg;
    this.serverID = serverID;
    this.#log = cfg.logger.with({ subsystem_name: "key_manager", plugin: "aws_kms" });
    if (cfg.keyPolicy !== undefined) this.#policy = { value: cfg.keyPolicy };
  }

  /**
   * Resolves the server ID and loads this server's keys from their aliases (ListAliases, DescribeKey, GetPublicKey).
   * @throws {FailedPreconditionError} when an alias points at a key that is not enabled
   * @throws {UnavailableError|InternalError} when KMS cannot be reached or refuses
   */
  static async open(cfg: AWSKMSConfig): Promise<AWSKMSKeyManager> {
    const km = new AWSKMSKeyManager(cfg, await resolveServerID(cfg));
    km.#log.debug("Loaded server id", { server_id: km.serverID });
    await km.#loadKeys();
    return km;
  }

  /** Alias prefix of this server: alias/SPIRE_SERVER/<td with . → _>/<server id>/ */
  get aliasPrefix(): string {
    return `alias/SPIRE_SERVER/${this.#cfg.trustDomain.replaceAll(".", "_")}/${this.serverID}/`;
  }

  async generateKey(id: string, keyType: KeyType): Promise<Key> {
    if (!id) throw new InvalidArgumentError("key id is required");
    if (keyType !== "ec-p256") throw new InvalidArgumentError(`unsupported key type "${keyType}"`);
    const run = this.#lock.then(() => this.#generate(id));
    this.#lock = run.catch(() => {});
    return run;
  }

  async getKey(id: string): Promise<Key | undefined> {
    return this.#entries.get(id)?.key;
  }

  async getKeys(): Promise<Key[]> {
    return [...this.#entries.values()].map((e) => e.key);
  }

  /** Resolves once every queued key deletion has been scheduled or given up (tests, shutdown). */
  idle(): Promise<void> {
    return this.#drain;
  }

  /** Stops retrying queued deletions. */
  close(): void {
    this.#closed.abort();
  }

  async #generate(id: string): Promise<Key> {
    const { client, trustDomain } = this.#cfg;
    const policy = await this.#keyPolicy();
    const description = `SPIRE_SERVER_KEY/${trustDomain.replaceAll(".", "_")}/${id}`;
    const arn = await this.#call("failed to create key", () => client.createKey({ description, policy }));
    this.#log.debug("Key created", { kms_arn: arn });
    const spki = await this.#call("failed to get public key", () => client.getPublicKey(arn));
    const alias = this.aliasPrefix + encodeKeyID(id);
    const old = this.#entries.get(id);
    if (old) {
      await this.#call("failed to update alias", () => client.updateAlias(alias, arn));
      this.#log.debug("Alias updated", { alias_name: alias, kms_arn: arn });
      this.#scheduleDeletion(old.arn);
    } else {
      try {
        await client.createAlias(alias, arn);
        this.#log.debug("Alias created", { alias_name: alias, kms_arn: arn });
      } catch (err) {
        // An alias left behind by a key this server could not load (e.g. lost state): take it over.
        if (kmsErrorCode(err) !== "AlreadyExistsException") throw this.#wrap("failed to create alias", err);
        await this.#call("failed to update alias", () => client.updateAlias(alias, arn));
      }
    }
    const key: Key = { id, signer: this.#signer(arn, spki, alias) };
    this.#entries.set(id, { key, arn });
    return key;
  }

  #signer(arn: string, spki: Uint8Array, alias: string): Signer {
    return {
      publicKeySPKI: spki,
      location: { kind: "aws_kms", keyID: arn, alias },
      sign: async (data) => {
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
        return this.#call("failed to sign", () => this.#cfg.client.signDigest(arn, digest));
      },
    };
  }

  async #loadKeys(): Promise<void> {
    const { client } = this.#cfg;
    const prefix = this.aliasPrefix;
    const found: Array<{ aliasName: string; target: string }> = [];
    let marker: string | undefined;
    do {
      const page = await this.#call("failed to fetch keys", () => client.listAliases(marker));
      for (const a of page.aliases) if (a.aliasName.startsWith(prefix)) found.push({ aliasName: a.aliasName, target: a.targetKeyId ?? a.aliasName });
      marker = page.nextMarker;
    } while (marker);
    await Promise.all(found.map(async ({ aliasName, target }) => {
      const d = await this.#call("failed to describe key", () => client.describeKey(target));
      if (d.keyState !== "Enabled") {
        throw new FailedPreconditionError(`failed to fetch keys: key "${d.arn}" behind alias "${aliasName}" is ${d.keyState}, not enabled`);
      }
      if (d.keySpec !== "ECC_NIST_P256") {
        this.#log.warn("Skipping key with an unsupported key spec", { alias_name: aliasName, kms_arn: d.arn, spec: d.keySpec });
        return;
      }
      const spki = await this.#call("failed to get public key", () => client.getPublicKey(d.arn));
      const id = decodeKeyID(aliasName.slice(prefix.length));
      this.#entries.set(id, { key: { id, signer: this.#signer(d.arn, spki, aliasName) }, arn: d.arn });
      this.#log.debug("Key loaded", { kms_arn: d.arn, alias_name: aliasName });
    }));
  }

  /** SPIRE's default key policy: full access for the assumed role, read access for the account root. */
  async #keyPolicy(): Promise<string | undefined> {
    if (this.#policy) return this.#policy.value;
    let who: { account: string; arn: string };
    try {
      who = await this.#cfg.client.getCallerIdentity();
    } catch (cause) {
      throw new InternalError("unable to create policy: cannot get caller identity from STS", { cause });
    }
    const role = /:assumed-role\/([^/]+)\//.exec(who.arn)?.[1];
    if (!role) {
      this.#log.warn("The server has not assumed an IAM role; new keys get the default AWS KMS key policy", { caller_arn: who.arn });
      this.#policy = { value: undefined };
      return undefined;
    }
    const value = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "Allow full access to the SPIRE Server role",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${who.account}:role/${role}` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "Allow KMS console to display the key and policy",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${who.account}:root` },
          Action: ["kms:Describe*", "kms:List*", "kms:Get*"],
          Resource: "*",
        },
      ],
    });
    this.#policy = { value };
    return value;
  }

  /** Queues ScheduleKeyDeletion of a replaced key; retried with backoff, never blocking key generation. */
  #scheduleDeletion(arn: string): void {
    this.#deletions.push(arn);
    this.#log.debug("Key enqueued for deletion", { kms_arn: arn });
    this.#drain = this.#drain.then(() => this.#drainDeletions());
  }

  async #drainDeletions(): Promise<void> {
    let backoff = 1000;
    while (this.#deletions.length > 0 && !this.#closed.signal.aborted) {
      const arn = this.#deletions[0]!;
      try {
        await this.#cfg.client.scheduleKeyDeletion(arn, DELETION_WINDOW_DAYS);
        this.#log.debug("Key scheduled for deletion", { kms_arn: arn });
        this.#deletions.shift();
        backoff = 1000;
      } catch (err) {
        const code = kmsErrorCode(err);
        if (code === "NotFoundException" || code === "InvalidArnException" || code === "KMSInvalidStateException") {
          this.#log.error("Failed to schedule key deletion", { kms_arn: arn, reason: code, error: errorText(err) });
          this.#deletions.shift();
          continue;
        }
        this.#log.warn("It was not possible to schedule key for deletion", { kms_arn: arn, error: errorText(err), retry_in_ms: backoff });
        try {
          await this.#cfg.clock.sleep(backoff, this.#closed.signal);
        } catch {
          return;
        }
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#wrap(what, err);
    }
  }

  #wrap(what: string, err: unknown): ServiceError {
    if (err instanceof ServiceError) return err;
    const code = kmsErrorCode(err);
    const where = `AWS KMS at "${this.#cfg.client.endpoint}"`;
    if (isCredentialsError(err)) return new UnauthenticatedError(`${what}: no usable AWS credentials for ${where}`, { cause: err });
    if (code === undefined) return new UnavailableError(`${what}: ${where} is unreachable`, { cause: err });
    if (code === "NotFoundException") return new NotFoundError(`${what}: ${where} answered ${code}`, { cause: err });
    const transient = (err as { $fault?: string }).$fault === "server" || code === "ThrottlingException";
    return transient
      ? new UnavailableError(`${what}: ${where} answered ${code}`, { cause: err })
      : new InternalError(`${what}: ${where} answered ${code}`, { cause: err });
  }
}

/** The SDK's credential chain found nothing usable: no answer from AWS, but not a network problem either. */
export function isCredentialsError(err: unknown): boolean {
  return err instanceof Error && err.name === "CredentialsProviderError";
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** SPIRE's getOrCreateServerID, or the configured key_identifier_value. */
async function resolveServerID(cfg: AWSKMSConfig): Promise<string> {
  if (cfg.keyIdentifierValue) return cfg.keyIdentifierValue;
  const path = cfg.keyIdentifierFile;
  if (!path) throw new InvalidArgumentError("configuration requires a key identifier file or a key identifier value");
  let text: string | undefined;
  try {
    text = new TextDecoder().decode(await cfg.fs.readFile(path)).trim();
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw new InternalError(`failed to read server id from path "${path}"`, { cause: err });
  }
  if (text !== undefined) {
    if (!UUID.test(text)) throw new InternalError(`failed to parse server id from path "${path}": not a UUID`);
    return text.toLowerCase();
  }
  const id = crypto.randomUUID();
  try {
    await cfg.fs.mkdir(cfg.fs.dirname(path), 0o700);
    await cfg.fs.writeFileAtomic(path, id, 0o600);
  } catch (cause) {
    throw new InternalError(`failed to persist server id on path "${path}"`, { cause });
  }
  return id;
}
