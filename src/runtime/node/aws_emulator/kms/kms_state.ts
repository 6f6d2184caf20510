/** Persistent KMS state: ECC P-256 keys (private scalars included, file mode 0600) and aliases. @module */
import { AwsError } from "../aws_error.ts";
import type { JsonStore } from "../json_store.ts";

export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";

/** One customer managed key. Times are epoch ms. */
export interface KeyRecord {
  keyId: string;
  arn: string;
  createdAt: number;
  description: string;
  policy: string;
  tags: Array<{ TagKey: string; TagValue: string }>;
  keySpec: "ECC_NIST_P256";
  keyUsage: "SIGN_VERIFY";
  state: KeyState;
  deletionDate?: number;
  pendingWindowInDays?: number;
  /** Private JWK members (base64url): d, x, y. */
  jwk: { d: string; x: string; y: string };
}

export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  createdAt: number;
  updatedAt: number;
}

interface KmsFile {
  keys: Record<string, KeyRecord>;
  aliases: Record<string, AliasRecord>;
}

const FILE = "kms.json";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Keys and aliases of one account and region, saved after every change. */
export class KmsState {
  readonly #store: JsonStore;
  readonly #file: KmsFile;
  readonly region: string;
  readonly accountId: string;

  constructor(store: JsonStore, opts: { region: string; accountId: string }) {
    this.#store = store;
    this.#file = store.read<KmsFile>(FILE) ?? { keys: {}, aliases: {} };
    this.region = opts.region;
    this.accountId = opts.accountId;
  }

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }
  aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:${aliasName}`;
  }

  save(): void {
    this.#store.write(FILE, this.#file);
  }

  addKey(rec: KeyRecord): void {
    this.#file.keys[rec.keyId] = rec;
    this.save();
  }

  /** Keys in creation order, after removing those whose deletion date has passed. */
  keys(now: number): KeyRecord[] {
    this.#purge(now);
    return Object.values(this.#file.keys).sort((a, b) => a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : 1));
  }

  aliases(): AliasRecord[] {
    return Object.values(this.#file.aliases).sort((a, b) => (a.aliasName < b.aliasName ? -1 : 1));
  }
  alias(name: string): AliasRecord | undefined {
    return this.#file.aliases[name];
  }
  putAlias(rec: AliasRecord): void {
    this.#file.aliases[rec.aliasName] = rec;
    this.save();
  }
  deleteAlias(name: string): void {
    delete this.#file.aliases[name];
    this.save();
  }

  /** Deletes keys whose waiting period is over, and their aliases, as KMS does at DeletionDate. */
  #purge(now: number): void {
    let changed = false;
    for (const k of Object.values(this.#file.keys)) {
      if (k.state === "PendingDeletion" && k.deletionDate !== undefined && k.deletionDate <= now) {
        delete this.#file.keys[k.keyId];
        for (const a of Object.values(this.#file.aliases)) if (a.targetKeyId === k.keyId) delete this.#file.aliases[a.aliasName];
        changed = true;
      }
    }
    if (changed) this.save();
  }

  /**
   * Finds a key by key ID, key ARN and, when `aliases` is true, alias name or alias ARN.
   * @throws {AwsError} NotFoundException when nothing matches
   */
  resolve(keyId: string, now: number, aliases = true): KeyRecord {
    this.#purge(now);
    const arnPrefix = `arn:aws:kms:${this.region}:${this.accountId}:`;
    let name = keyId;
    if (name.startsWith("arn:")) {
      if (!name.startsWith(arnPrefix)) throw new AwsError("NotFoundException", `Invalid arn ${keyId}`);
      name = name.slice(arnPrefix.length);
      if (name.startsWith("key/")) name = name.slice(4);
      else if (!name.startsWith("alias/")) throw new AwsError("NotFoundException", `Invalid arn ${keyId}`);
    }
    if (name.startsWith("alias/")) {
      if (!aliases) throw new AwsError("NotFoundException", `Invalid keyId ${keyId}`);
      const a = this.#file.aliases[name];
      const k = a ? this.#file.keys[a.targetKeyId] : undefined;
      if (!k) throw new AwsError("NotFoundException", `Alias ${this.aliasArn(name)} is not found.`);
      return k;
    }
    if (!UUID.test(name)) throw new AwsError("NotFoundException", `Invalid keyId ${keyId}`);
    const k = this.#file.keys[name];
    if (!k) throw new AwsError("NotFoundException", `Key '${this.keyArn(name)}' does not exist`);
    return k;
  }
}
