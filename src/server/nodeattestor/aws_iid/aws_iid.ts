/**
 * The aws_iid server node attestor (SPIRE pkg/server/plugin/nodeattestor/awsiid): verifies the agent's EC2 instance
 * identity document, checks the instance with EC2 (and IAM for role selectors), refuses an agent ID that was already
 * attested (trust on first use) and answers with SPIRE's agent ID and aws_iid selectors.
 * @module
 */
import { InternalError, InvalidArgumentError, PermissionDeniedError } from "../../../core/errors.ts";
import type { Logger } from "../../../core/log/logger.ts";
import type { Selector } from "../../../core/selector.ts";
import * as spiffeid from "../../../core/spiffeid/mod.ts";
import type { DataStore } from "../../datastore/datastore.ts";
import { renderAgentPathTemplate } from "../agent_path_template.ts";
import type { ChallengeFn, NodeAttestationResult, ServerNodeAttestor } from "../node_attestor.ts";
import type { AWSIIDServerConfig } from "./aws_iid_config.ts";
import type { AWSIIDClient, AWSIIDClientFactory, EC2Instance } from "./aws_iid_port.ts";
import { type IIDAttestationData, verifyIIDSignature } from "./iid_verify.ts";

export const PLUGIN_NAME = "aws_iid";
/** SPIRE gives each AWS step 20 s. */
const AWS_TIMEOUT_MS = 20_000;
/** Largest accepted gap between the root volume's and ENI 0's attach times, in seconds (SPIRE's maxSecondsBetweenDeviceAttachments). */
const MAX_ATTACH_GAP_SECONDS = 60;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The identity document fields attestation uses (imds.InstanceIdentityDocument). */
interface InstanceIdentityDocument {
  accountId: string;
  availabilityZone: string;
  imageId: string;
  instanceId: string;
  region: string;
}

export interface AWSIIDAttestorOptions {
  config: AWSIIDServerConfig;
  trustDomain: spiffeid.TrustDomain;
  ds: DataStore;
  clients: AWSIIDClientFactory;
  /** DER of the `trusted_iid_certificates`. */
  trustedCertificates: readonly Uint8Array[];
  logger: Logger;
}

function internal(message: string, cause?: unknown): InternalError {
  return new InternalError(message, cause === undefined ? undefined : { cause });
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function parsePayload(payload: Uint8Array): { data: IIDAttestationData; doc: InstanceIdentityDocument } {
  let data: IIDAttestationData;
  try {
    const v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload)) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("json: cannot unmarshal into Go value of type aws.IIDAttestationData");
    const o = v as Record<string, unknown>;
    for (const k of ["document", "signature", "rsa2048"]) {
      if (o[k] !== undefined && o[k] !== null && typeof o[k] !== "string") {
        throw new Error(`json: cannot unmarshal ${typeof o[k]} into Go struct field IIDAttestationData.${k} of type string`);
      }
    }
    data = {
      document: (o["document"] as string | undefined) ?? "",
      signature: (o["signature"] as string | undefined) ?? "",
      rsa2048: (o["rsa2048"] as string | undefined) ?? "",
    };
  } catch (cause) {
    throw new InvalidArgumentError(`failed to unmarshal the attestation data: ${reason(cause)}`, { cause });
  }
  let doc: InstanceIdentityDocument;
  try {
    const v = JSON.parse(data.document) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("json: cannot unmarshal into Go value of type imds.InstanceIdentityDocument");
    const o = v as Record<string, unknown>;
    const str = (k: string) => {
      if (o[k] !== undefined && o[k] !== null && typeof o[k] !== "string") {
        throw new Error(`json: cannot unmarshal ${typeof o[k]} into Go struct field InstanceIdentityDocument.${k} of type string`);
      }
      return (o[k] as string | undefined) ?? "";
    };
    const pending = o["pendingTime"];
    if (pending !== undefined && pending !== null && (typeof pending !== "string" || !RFC3339.test(pending) || Number.isNaN(Date.parse(pending)))) {
      throw new Error(`parsing time ${JSON.stringify(pending)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
    }
    doc = {
      accountId: str("accountId"),
      availabilityZone: str("availabilityZone"),
      imageId: str("imageId"),
      instanceId: str("instanceId"),
      region: str("region"),
    };
  } catch (cause) {
    throw new InvalidArgumentError(`failed to unmarshal the IID: ${reason(cause)}`, { cause });
  }
  return { data, doc };
}

/** SPIRE's block-device check: the root volume and ENI 0 were attached together, at launch. */
function checkBlockDevice(i: EC2Instance): void {
  const fail = (why: string) => internal(`failed aws ec2 attestation: ${why}`);
  const eni0 = i.networkInterfaces.find((n) => n.deviceIndex === 0);
  if (!eni0) throw fail("the EC2 instance network interface with device index 0 is inaccessible");
  if (i.rootDeviceType === "instance-store") return;
  const root = i.blockDeviceMappings.find((b) => b.deviceName === i.rootDeviceName);
  if (!root) throw fail(`failed to locate the root device block mapping with name "${i.rootDeviceName ?? ""}"`);
  const gap = Math.trunc(Math.abs((eni0.attachTime?.getTime() ?? 0) - (root.ebsAttachTime?.getTime() ?? 0)) / 1000);
  if (gap > MAX_ATTACH_GAP_SECONDS) {
    throw fail(`failed checking the disparity device attach times, root BlockDeviceMapping and NetworkInterface[0] attach times differ by ${gap} seconds`);
  }
}

/** Server-side aws_iid attestation. */
export class AWSIIDAttestor implements ServerNodeAttestor {
  readonly name = PLUGIN_NAME;
  readonly #o: AWSIIDAttestorOptions;
  /** SDK clients per "accountId@region", as SPIRE caches them. */
  readonly #clients = new Map<string, AWSIIDClient>();

  constructor(o: AWSIIDAttestorOptions) {
    this.#o = o;
  }

  async attest(payload: Uint8Array, _challenge: ChallengeFn): Promise<NodeAttestationResult> {
    const cfg = this.#o.config;
    if (payload.length === 0) throw new InvalidArgumentError("missing attestation payload");
    const { data, doc } = parsePayload(payload);
    await verifyIIDSignature(data, doc.region, { extraCertificates: this.#o.trustedCertificates });

    const client = this.#client(doc.accountId, doc.region);
    let reservations: EC2Instance[][];
    try {
      reservations = await client.describeInstances(doc.instanceId, AbortSignal.timeout(AWS_TIMEOUT_MS));
    } catch (cause) {
      throw internal(`failed to describe instance: ${reason(cause)}`, cause);
    }
    const needsTags = cfg.agentPathTemplate.includes(".Tags");
    const checkDevices = !cfg.skipBlockDevice && !cfg.accountIdsForLocalValidation.includes(doc.accountId);
    let instance: EC2Instance | undefined;
    if (needsTags || checkDevices) {
      if (reservations.length === 0) throw internal("failed to query AWS via describe-instances: returned no reservations");
      instance = reservations[0]![0];
      if (!instance) throw internal("failed to query AWS via describe-instances: returned no instances");
    }
    if (checkDevices) checkBlockDevice(instance!);

    let agentID: spiffeid.ID;
    try {
      const tags = Object.fromEntries((instance?.tags ?? []).map((t) => [t.key, t.value]));
      const path = renderAgentPathTemplate(cfg.agentPathTemplate, {
        PluginName: PLUGIN_NAME,
        TrustDomain: "",
        AccountID: doc.accountId,
        Region: doc.region,
        InstanceID: doc.instanceId,
        Tags: tags,
      });
      agentID = spiffeid.ID.fromPath(this.#o.trustDomain, path);
    } catch (cause) {
      throw internal(`failed to create spiffe ID: ${reason(cause)}`, cause);
    }

    // Trust on first use: an instance attests once; a replayed document finds its agent already there. `agent evict`
    // deletes the node and lets the instance attest again.
    if (await this.#o.ds.fetchAttestedNode(agentID.toString())) {
      throw new PermissionDeniedError("attestation data has already been used to attest an agent");
    }

    const values = new Set<string>([
      `account_id:${doc.accountId}`,
      `az:${doc.availabilityZone}`,
      `image:id:${doc.imageId}`,
      `instance:id:${doc.instanceId}`,
      `region:${doc.region}`,
    ]);
    for (const inst of reservations.flat()) {
      for (const t of inst.tags) values.add(`tag:${t.key}:${t.value}`);
      for (const g of inst.securityGroups) {
        values.add(`sg:id:${g.groupId}`);
        values.add(`sg:name:${g.groupName}`);
      }
      if (inst.iamInstanceProfileArn && !cfg.disableInstanceProfileSelectors) {
        const name = inst.iamInstanceProfileArn.slice(inst.iamInstanceProfileArn.lastIndexOf("instance-profile/") + "instance-profile/".length);
        let roles: string[];
        try {
          roles = await client.getInstanceProfileRoleArns(name, AbortSignal.timeout(AWS_TIMEOUT_MS));
        } catch (cause) {
          // [sic] SPIRE's spelling.
          throw internal(`failed to get intance profile: ${reason(cause)}`, cause);
        }
        for (const arn of roles) values.add(`iamrole:${arn}`);
      }
    }
    const selectors: Selector[] = [...values].sort().map((value) => ({ type: PLUGIN_NAME, value }));
    this.#o.logger.debug("Attested EC2 instance", { agent_id: agentID.toString(), instance_id: doc.instanceId, account_id: doc.accountId, region: doc.region });
    return { agentID, selectors, canReattest: false };
  }

  #client(accountId: string, region: string): AWSIIDClient {
    const key = `${accountId}@${region}`;
    let c = this.#clients.get(key);
    if (!c) {
      c = this.#o.clients({ accountId, region });
      this.#clients.set(key, c);
    }
    return c;
  }
}
