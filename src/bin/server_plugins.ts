/**
 * The wisp-server plugins that need the AWS SDK or a concrete file system: UpstreamAuthority "aws_pca" and "disk"
 * (from server.conf or from a managed config document), KeyManager "aws_kms", NodeAttestor "aws_iid". The SDK wrappers are imported here only, so portable code never sees SDK types.
 * @module
 */
import type { Logger } from "../core/log/logger.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { FS } from "../core/ports/fs.ts";
import type { ServerRuntime } from "../server/cli/run.ts";
import { fromPEM } from "../core/x509/mod.ts";
import { AWSKMSKeyManager } from "../server/keymanager/awskms/awskms.ts";
import { AWSIIDAttestor } from "../server/nodeattestor/aws_iid/aws_iid.ts";
import { newAWSIIDClientFactory } from "../server/nodeattestor/aws_iid/aws_iid_client.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { newKMSClient } from "../server/keymanager/awskms/kms_client.ts";
import { AWSPCAUpstreamAuthority } from "../server/upstreamauthority/awspca/awspca.ts";
import { newPCAClient } from "../server/upstreamauthority/awspca/pca_client.ts";
import { DiskUpstreamAuthority } from "../server/upstreamauthority/disk/disk.ts";

/** Builds the `upstream` and `keyManager` hooks of the server runtime; `env` supplies AWS_ENDPOINT_URL_* overrides. */
export function serverPlugins(
  o: { fs: FS; clock: Clock; env: Record<string, string | undefined> },
): Required<Pick<ServerRuntime, "upstream" | "keyManager" | "managedUpstream" | "nodeAttestorFactories">> {
  const { fs, clock, env } = o;
  const endpointFor = (service: string) => env[`AWS_ENDPOINT_URL_${service}`] || env["AWS_ENDPOINT_URL"] || undefined;
  /** One ACM PCA upstream, whether its settings come from server.conf or from a managed config document. */
  const awsPCA = (
    p: {
      region: string;
      certificateAuthorityArn: string;
      endpoint?: string | undefined;
      assumeRoleArn?: string | undefined;
      signingAlgorithm?: string | undefined;
      caSigningTemplateArn?: string | undefined;
      supplementalBundlePath?: string | undefined;
    },
    logger: Logger,
    source: string,
  ) => {
    const client = newPCAClient({
      region: p.region,
      endpoint: p.endpoint ?? endpointFor("ACM_PCA"),
      assumeRoleArn: p.assumeRoleArn,
      stsEndpoint: endpointFor("STS"),
    });
    logger.info(`Using ACM PCA upstream authority${source}`, { certificate_authority_arn: p.certificateAuthorityArn, endpoint: client.endpoint });
    return AWSPCAUpstreamAuthority.create({
      client,
      certificateAuthorityArn: p.certificateAuthorityArn,
      signingAlgorithm: p.signingAlgorithm,
      caSigningTemplateArn: p.caSigningTemplateArn,
      supplementalBundlePath: p.supplementalBundlePath,
      fs,
      clock,
      logger,
    });
  };
  return {
    // Node attestors that need the AWS SDK register here, one line each, over the portable ones (join_token, x509pop).
    nodeAttestorFactories: {
      aws_iid: async (cfg, d) => {
        const trustedCertificates = (await Promise.all(cfg.trustedIIDCertificates.map(async (p) => {
          try {
            const certs = fromPEM(new TextDecoder().decode(await fs.readFile(p)), "CERTIFICATE");
            if (certs.length === 0) throw new Error("no certificates found");
            return certs;
          } catch (cause) {
            throw new InvalidArgumentError(
              `aws_iid: unable to load trusted_iid_certificates "${p}": ${cause instanceof Error ? cause.message : String(cause)}`,
              { cause },
            );
          }
        }))).flat();
        const clients = newAWSIIDClientFactory({
          credentials: cfg.accessKeyId && cfg.secretAccessKey ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } : undefined,
          assumeRole: cfg.assumeRole,
          partition: cfg.partition,
          ec2Endpoint: endpointFor("EC2"),
          iamEndpoint: endpointFor("IAM"),
          stsEndpoint: endpointFor("STS"),
        });
        d.logger.info("Using aws_iid node attestor", {
          trusted_iid_certificates: cfg.trustedIIDCertificates.length,
          ec2_endpoint: endpointFor("EC2") ?? "regional",
          ...(cfg.assumeRole ? { assume_role: cfg.assumeRole } : {}),
        });
        return new AWSIIDAttestor({ config: cfg, trustDomain: d.trustDomain, ds: d.ds, clients, trustedCertificates, logger: d.logger });
      },
    },
    managedUpstream: (doc, logger: Logger) => awsPCA(doc, logger, " from managed config"),
    async upstream(cfg, logger: Logger) {
      const ua = cfg.upstreamAuthority;
      if (!ua) return undefined;
      if (ua.name === "disk") return DiskUpstreamAuthority.load({ ...ua, fs, clock, logger });
      return awsPCA(ua, logger, "");
    },
    async keyManager(cfg, logger: Logger) {
      const km = cfg.keyManager;
      if (km.name !== "aws_kms") return undefined;
      const client = newKMSClient({
        region: km.region,
        endpoint: km.endpoint ?? endpointFor("KMS"),
        stsEndpoint: endpointFor("STS"),
        credentials: km.accessKeyId && km.secretAccessKey ? { accessKeyId: km.accessKeyId, secretAccessKey: km.secretAccessKey } : undefined,
      });
      const keyPolicy = km.keyPolicyFile ? new TextDecoder().decode(await fs.readFile(km.keyPolicyFile)) : undefined;
      return AWSKMSKeyManager.open({
        client,
        trustDomain: cfg.trustDomain.name,
        keyIdentifierFile: km.keyIdentifierFile,
        keyIdentifierValue: km.keyIdentifierValue,
        keyPolicy,
        fs,
        clock,
        logger,
      });
    },
  };
}
