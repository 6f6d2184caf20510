/** The emulated account: its 12-digit ID, the long-term access key and the STS session credentials. @module */
import { randomBytes, randomInt } from "node:crypto";
import type { JsonStore } from "./json_store.ts";
import type { KnownCredentials } from "./sigv4.ts";

/** Who made a request, as IAM and GetCallerIdentity name them. */
export interface Principal {
  accessKeyId: string;
  arn: string;
  userId: string;
  account: string;
}

/** Temporary credentials handed out by AssumeRole. */
export interface SessionRecord {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** Epoch ms. */
  expiresAt: number;
  arn: string;
  userId: string;
  /** Account that owns the assumed role. */
  account: string;
}

interface IdentityFile {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  userId: string;
  userName: string;
  sessions: Record<string, SessionRecord>;
}

const FILE = "identity.json";
const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Random upper-case access-key-style text, as AWS uses for key and principal IDs. */
export function randomKeyId(prefix: string, length = 16): string {
  let out = prefix;
  for (const b of randomBytes(length)) out += KEY_ALPHABET[b % KEY_ALPHABET.length];
  return out;
}

/** A 40-character secret in AWS's base64-ish alphabet. */
export function randomSecret(): string {
  return randomBytes(30).toString("base64").replace(/\+/g, "A").replace(/\//g, "b");
}

/** The account's identities, persisted in identity.json (mode 0600, it holds secrets). */
export class Identity {
  readonly #store: JsonStore;
  readonly #file: IdentityFile;

  constructor(store: JsonStore) {
    this.#store = store;
    const loaded = store.read<IdentityFile>(FILE);
    if (loaded) {
      this.#file = loaded;
    } else {
      this.#file = {
        accountId: String(randomInt(100_000, 1_000_000)) + String(randomInt(100_000, 1_000_000)),
        accessKeyId: randomKeyId("AKIA"),
        secretAccessKey: randomSecret(),
        userId: randomKeyId("AIDA", 17),
        userName: "wisp-emulator",
        sessions: {},
      };
      this.#save();
    }
  }

  get accountId(): string {
    return this.#file.accountId;
  }
  get accessKeyId(): string {
    return this.#file.accessKeyId;
  }
  get secretAccessKey(): string {
    return this.#file.secretAccessKey;
  }

  /** Credentials for SigV4 verification; expired sessions are still found so the caller can say "expired". */
  lookup(accessKeyId: string): KnownCredentials | undefined {
    if (accessKeyId === this.#file.accessKeyId) return { secretAccessKey: this.#file.secretAccessKey };
    const s = this.#file.sessions[accessKeyId];
    return s ? { secretAccessKey: s.secretAccessKey, sessionToken: s.sessionToken, expiresAt: s.expiresAt } : undefined;
  }

  /** The principal behind a verified access key. */
  principal(accessKeyId: string): Principal {
    const s = this.#file.sessions[accessKeyId];
    if (s) return { accessKeyId, arn: s.arn, userId: s.userId, account: s.account };
    return {
      accessKeyId,
      arn: `arn:aws:iam::${this.accountId}:user/${this.#file.userName}`,
      userId: this.#file.userId,
      account: this.accountId,
    };
  }

  /** Mints session credentials for an assumed role and forgets sessions that have expired. */
  addSession(opts: { account: string; roleName: string; sessionName: string; roleId: string; expiresAt: number; now: number }): SessionRecord {
    for (const [k, v] of Object.entries(this.#file.sessions)) if (v.expiresAt <= opts.now) delete this.#file.sessions[k];
    const rec: SessionRecord = {
      accessKeyId: randomKeyId("ASIA"),
      secretAccessKey: randomSecret(),
      sessionToken: randomBytes(180).toString("base64"),
      expiresAt: opts.expiresAt,
      arn: `arn:aws:sts::${opts.account}:assumed-role/${opts.roleName}/${opts.sessionName}`,
      userId: `${opts.roleId}:${opts.sessionName}`,
      account: opts.account,
    };
    this.#file.sessions[rec.accessKeyId] = rec;
    this.#save();
    return rec;
  }

  #save(): void {
    this.#store.write(FILE, this.#file);
  }
}
