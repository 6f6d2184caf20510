/** The emulator's state and switches in one object: identities, CA and KMS state, faults, throttling, stats, policy. @module */
import type { Logger } from "../../../core/log/logger.ts";
import { ImdsServers } from "./ec2/imds_servers.ts";
import { IIDSigner } from "./ec2/iid_signer.ts";
import { type InstanceRecord, Instances, parseInstance } from "./ec2/instances.ts";
import { Faults } from "./faults.ts";
import { type IamPolicy, parsePolicy } from "./iam_policy.ts";
import { Identity } from "./identity.ts";
import { JsonStore } from "./json_store.ts";
import { KmsService } from "./kms/kms_service.ts";
import { KmsState } from "./kms/kms_state.ts";
import { PcaService } from "./pca/pca_service.ts";
import { CA_STATUSES, type CaStatus, PcaState } from "./pca/pca_state.ts";
import { Throttler } from "./throttler.ts";

export interface EmulatorOptions {
  dataDir: string;
  region: string;
  /** GetCertificate answers RequestInProgressException this long after IssueCertificate, in ms. */
  issuanceDelayMs: number;
  /** Identity policy evaluated for acm-pca actions; undefined allows everything. */
  policy?: IamPolicy;
  logger: Logger;
  /** Address the per-instance IMDS listeners bind to (default "127.0.0.1"). */
  imdsHost?: string;
}

/** What the launcher prints once the emulator listens. */
export interface EmulatorInfo {
  endpoint: string;
  region: string;
  rootCaArn: string;
  subordinateCaArn: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** PEM of the certificate that signs instance identity documents (for the server's trusted_iid_certificates). */
  iidCertificatePath: string;
}

/** What the control API answers for an instance: its definition, its IMDS endpoint and its identity document. */
export type InstanceView = Omit<InstanceRecord, "document"> & { imdsEndpoint: string | undefined; document: string };

/** Fields that are part of the identity document, so they cannot change after definition. */
const IMMUTABLE = ["instanceId", "account", "region", "availabilityZone", "imageId", "instanceType", "architecture", "privateIp", "launchTime"];

/** The whole emulated account. Created with `open`, then served by `createApp`. */
export class Emulator {
  readonly region: string;
  readonly logger: Logger;
  readonly identity: Identity;
  readonly pcaState: PcaState;
  readonly pca: PcaService;
  readonly kms: KmsService;
  readonly instances: Instances;
  readonly iidSigner: IIDSigner;
  readonly imds: ImdsServers;
  readonly faults = new Faults();
  readonly throttler = new Throttler();
  readonly stats = new Map<string, number>();
  policy: IamPolicy | undefined;
  issuanceDelayMs: number;
  /** PCA's window is 1 minute in the current service model (5 minutes in older docs). */
  idempotencyWindowMs = 60_000;
  /** Added to the wall clock, so tests can simulate skew and expiry. */
  clockOffsetMs = 0;

  private constructor(opts: EmulatorOptions, store: JsonStore, identity: Identity, pcaState: PcaState, iidSigner: IIDSigner) {
    this.region = opts.region;
    this.instances = new Instances(store);
    this.iidSigner = iidSigner;
    this.imds = new ImdsServers({
      host: opts.imdsHost ?? "127.0.0.1",
      instances: this.instances,
      signer: iidSigner,
      now: () => this.now().getTime(),
      count: (n) => this.count(n),
      logger: opts.logger,
    });
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
    const emu = new Emulator(opts, store, identity, pcaState, await IIDSigner.open(store));
    // Persisted instances get their metadata service back (on new ports; GET /_emulator/instances lists them).
    for (const i of emu.instances.all()) await emu.imds.open(i.instanceId);
    return emu;
  }

  /** Defines an instance from a POST /_emulator/instances body and opens its IMDS listener. */
  async defineInstance(body: unknown): Promise<InstanceView | { problems: string[] }> {
    const rec = parseInstance(body, { account: this.identity.accountId, region: this.region, now: this.now() });
    if ("problems" in rec) return rec;
    if (this.instances.get(rec.instanceId)) return { problems: [`instance "${rec.instanceId}" already exists`] };
    this.instances.put(rec);
    await this.imds.open(rec.instanceId);
    this.logger.info("Instance defined", { instance_id: rec.instanceId, account_id: rec.account, region: rec.region });
    return this.instanceView(rec);
  }

  /** Changes what DescribeInstances reports (state, tags, devices, profile); the identity document stays as it was. */
  async updateInstance(id: string, body: unknown): Promise<InstanceView | { problems: string[] }> {
    const old = this.instances.get(id);
    if (!old) return { problems: [`unknown instance "${id}"`] };
    if (typeof body !== "object" || body === null || Array.isArray(body)) return { problems: ["instance update must be a JSON object"] };
    const fixed = Object.keys(body).filter((k) => IMMUTABLE.includes(k));
    if (fixed.length) return { problems: fixed.map((k) => `${k} is part of the identity document and cannot change`) };
    const { document, ...definition } = old;
    const rec = parseInstance({ ...definition, ...body }, { account: old.account, region: old.region, now: this.now() });
    if ("problems" in rec) return rec;
    const updated = { ...rec, document };
    this.instances.put(updated);
    return this.instanceView(updated);
  }

  /** Forgets an instance and closes its IMDS listener. */
  async deleteInstance(id: string): Promise<boolean> {
    await this.imds.close(id);
    return this.instances.delete(id);
  }

  instanceView(i: InstanceRecord): InstanceView {
    return { ...i, imdsEndpoint: this.imds.endpoint(i.instanceId) };
  }

  /** Closes the IMDS listeners. */
  async close(): Promise<void> {
    await this.imds.closeAll();
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
      iidCertificatePath: this.iidSigner.certificatePath,
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
    if (b["clockOffsetMs"] !== undefined && (typeof b["clockOffsetMs"] !== "number" || !Number.isFinite(b["clockOffsetMs"]))) {
      return "clockOffsetMs must be a number";
    }
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
