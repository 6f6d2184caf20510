/** The emulator's state and switches in one object: identities, CA and KMS state, faults, throttling, stats, policy. @module */
import type { Logger } from "../../../core/log/logger.ts";
import { Faults } from "./faults.ts";
import { parsePolicy, type IamPolicy } from "./iam_policy.ts";
import { Identity } from "./identity.ts";
import { JsonStore } from "./json_store.ts";
import { KmsService } from "./kms/kms_service.ts";
import { KmsState } from "./kms/kms_state.ts";
import { PcaService } from "./pca/pca_service.ts";
import { CA_STATUSES, PcaState, type CaStatus } from "./pca/pca_state.ts";
import { Throttler } from "./throttler.ts";

export interface EmulatorOptions {
  dataDir: string;
  region: string;
  /** GetCertificate answers RequestInProgressException this long after IssueCertificate, in ms. */
  issuanceDelayMs: number;
  /** Identity policy evaluated for acm-pca actions; undefined allows everything. */
  policy?: IamPolicy;
  logger: Logger;
}

/** What the launcher prints once the emulator listens. */
export interface EmulatorInfo {
  endpoint: string;
  region: string;
  rootCaArn: string;
  subordinateCaArn: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The whole emulated account. Created with `open`, then served by `createApp`. */
export class Emulator {
  readonly region: string;
  readonly logger: Logger;
  readonly identity: Identity;
  readonly pcaState: PcaState;
  readonly pca: PcaService;
  readonly kms: KmsService;
  readonly faults = new Faults();
  readonly throttler = new Throttler();
  readonly stats = new Map<string, number>();
  policy: IamPolicy | undefined;
  issuanceDelayMs: number;
  /** PCA's window is 1 minute in the current service model (5 minutes in older docs). */
  idempotencyWindowMs = 60_000;
  /** Added to the wall clock, so tests can simulate skew and expiry. */
  clockOffsetMs = 0;

  private constructor(opts: EmulatorOptions, store: JsonStore, identity: Identity, pcaState: PcaState) {
    this.region = opts.region;
    this.logger = opts.logger;
    this.identity = identity;
    this.pcaState = pcaState;
    this.policy = opts.policy;
    this.issuanceDelayMs = opts.issuanceDelayMs;
    this.pca = new PcaService(pcaState, () => ({
      issuanceDelayMs: this.issuanceDelayMs,
      idempotencyWindowMs: this.idempotencyWindowMs,
      forceDisabled: this.faults.get("acm-pca").mode === "invalid_state",
    }));
    const kmsState = new KmsState(store, { region: opts.region, accountId: identity.accountId });
    this.kms = new KmsService(kmsState, () => ({ forceInvalidState: this.faults.get("kms").mode === "invalid_state" }));
  }

  /** Loads the data directory, creating the account and the CA hierarchy on first start. */
  static async open(opts: EmulatorOptions): Promise<Emulator> {
    const store = new JsonStore(opts.dataDir);
    const identity = new Identity(store);
    const pcaState = await PcaState.open(store, { region: opts.region, accountId: identity.accountId, now: Date.now() });
    return new Emulator(opts, store, identity, pcaState);
  }

  now(): Date {
    return new Date(Date.now() + this.clockOffsetMs);
  }

  count(operation: string): void {
    this.stats.set(operation, (this.stats.get(operation) ?? 0) + 1);
  }

  statsSnapshot(): Record<string, number> {
    return Object.fromEntries([...this.stats].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  info(endpoint: string): EmulatorInfo {
    return {
      endpoint,
      region: this.region,
      rootCaArn: this.pcaState.rootCaArn,
      subordinateCaArn: this.pcaState.subordinateCaArn,
      accessKeyId: this.identity.accessKeyId,
      secretAccessKey: this.identity.secretAccessKey,
    };
  }

  /**
   * Applies a POST /_emulator/config body. Keys: issuanceDelayMs, idempotencyWindowMs, clockOffsetMs,
   * throttle {"service:Op": rps}, policy (IAM document or null), caStatus {"<ca arn>": status}.
   * Returns an error message when any key is unacceptable; nothing is applied then.
   */
  applyConfig(body: unknown): string | undefined {
    if (typeof body !== "object" || body === null || Array.isArray(body)) return "config request must be a JSON object";
    const b = body as Record<string, unknown>;
    const known = ["issuanceDelayMs", "idempotencyWindowMs", "clockOffsetMs", "throttle", "policy", "caStatus"];
    const unknown = Object.keys(b).filter((k) => !known.includes(k));
    if (unknown.length) return `unknown config key "${unknown[0]}"`;
    for (const k of ["issuanceDelayMs", "idempotencyWindowMs"]) {
      if (b[k] !== undefined && (typeof b[k] !== "number" || !Number.isFinite(b[k]) || (b[k] as number) < 0)) return `${k} must be a non-negative number`;
    }
    if (b["clockOffsetMs"] !== undefined && (typeof b["clockOffsetMs"] !== "number" || !Number.isFinite(b["clockOffsetMs"]))) return "clockOffsetMs must be a number";
    const throttle = b["throttle"];
    if (throttle !== undefined && (typeof throttle !== "object" || throttle === null || Object.values(throttle).some((v) => typeof v !== "number"))) {
      return "throttle must map operation names to requests per second";
    }
    let policy: IamPolicy | undefined;
    if (b["policy"] !== undefined && b["policy"] !== null) {
      try {
        policy = parsePolicy(b["policy"]);
      } catch (err) {
        return (err as Error).message;
      }
    }
    const caStatus = b["caStatus"];
    if (caStatus !== undefined) {
      if (typeof caStatus !== "object" || caStatus === null) return "caStatus must map certificate authority ARNs to statuses";
      for (const [arn, st] of Object.entries(caStatus)) {
        if (!this.pcaState.ca(arn)) return `unknown certificate authority "${arn}"`;
        if (!CA_STATUSES.includes(st as CaStatus)) return `unknown certificate authority status "${String(st)}"`;
      }
    }
    if (typeof b["issuanceDelayMs"] === "number") this.issuanceDelayMs = b["issuanceDelayMs"];
    if (typeof b["idempotencyWindowMs"] === "number") this.idempotencyWindowMs = b["idempotencyWindowMs"];
    if (typeof b["clockOffsetMs"] === "number") this.clockOffsetMs = b["clockOffsetMs"];
    if (throttle !== undefined) this.throttler.setRates(throttle as Record<string, number>);
    if (b["policy"] !== undefined) this.policy = policy;
    if (caStatus !== undefined) {
      for (const [arn, st] of Object.entries(caStatus)) this.pcaState.setStatus(arn, st as CaStatus, this.now().getTime());
    }
    return undefined;
  }
}
