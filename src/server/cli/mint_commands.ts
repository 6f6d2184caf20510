/**
 * `x509 mint` and `jwt mint`: SVIDs for a workload without an agent, signed by the server's CA, with SPIRE's flags,
 * texts and files (cmd/spire-server/cli/x509/mint.go, cmd/spire-server/cli/jwt/mint.go).
 * @module
 */
import { type Command, type CommandContext, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { exportPKCS8, generateKeyPair } from "../../core/crypto/ec_p256.ts";
import { fromBase64, toBase64 } from "../../core/encoding.ts";
import type { FS } from "../../core/ports/fs.ts";
import * as spiffeid from "../../core/spiffeid/mod.ts";
import { createCSR } from "../../core/x509/mod.ts";
import { toPEM } from "../../core/x509/pem.ts";
import { type AdminDialer, SOCKET_FLAG } from "./admin_client.ts";
import { fail, spireAction, wrapError } from "./spire_cmd.ts";
import { goJSON, goStructJSON } from "./spire_print.ts";
import { SVID } from "../../agent/workload/proto/spire/api/server/svid/v1/svid_pb.ts";
import { Bundle } from "../../agent/workload/proto/spire/api/server/bundle/v1/bundle_pb.ts";

/** ttlToSeconds: a Go duration rounded up to whole seconds. */
const ttlSeconds = (ms: number) => Math.ceil(ms / 1000);

/** expires_at is whole seconds and the call takes time: only a shortfall beyond this counts as capped. */
const CAP_SLACK_MS = 2000;

const rfc3339 = (unix: number) => new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

function outPath(fs: FS, ctx: CommandContext, p: string): string {
  return p.startsWith("/") ? p : fs.join(ctx.env.cwd, p);
}

export function mintCommands(dial: AdminDialer, fs: FS): Command[] {
  const x509 = defineCommand({
    name: "x509 mint",
    synopsis: "Mints an X509-SVID",
    flags: [
      SOCKET_FLAG,
      { name: "spiffeID", kind: "string", usage: "SPIFFE ID of the X509-SVID" },
      { name: "ttl", kind: "duration", default: 0, usage: "TTL of the X509-SVID" },
      { name: "dns", kind: "stringList", usage: "DNS name that will be included in SVID. Can be used more than once." },
      { name: "write", kind: "string", usage: "Directory to write output to instead of stdout" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["x509 mint -spiffeID spiffe://example.org/web -ttl 1h", "x509 mint -spiffeID spiffe://example.org/web -write ./certs"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        if (!v.spiffeID) throw fail("spiffeID must be specified");
        const id = spiffeid.fromString(v.spiffeID);
        const ttl = ttlSeconds(v.ttl);
        if (ttl > 2 ** 31 - 1) throw fail("invalid value for TTL: value out of range");
        // A fresh P-256 key per mint, generated here: the private key never travels to the server.
        const pair = await generateKeyPair(true);
        const csr = await createCSR(pair, { spiffeID: id.toString(), dnsNames: v.dns });
        const client = dial(v.socketPath);
        let svid: { cert_chain: string[]; expires_at: number };
        try {
          const r = (await client.grpc(SVID.method.mintX509SVID, { csr, ttl })).svid;
          svid = { cert_chain: (r?.certChain ?? []).map(toBase64), expires_at: Number(r?.expiresAt ?? 0) };
        } catch (err) {
          throw wrapError("unable to mint SVID", err);
        }
        if (svid.cert_chain.length === 0) throw fail("server response missing SVID chain");
        let roots: string[];
        try {
          roots = (await client.grpc(Bundle.method.getBundle, {})).x509Authorities.map((a) => toBase64(a.asn1));
        } catch (err) {
          throw wrapError("unable to get bundle", err);
        }
        if (roots.length === 0) throw fail("server response missing X509 Authorities");
        if (v.ttl > 0 && svid.expires_at * 1000 - Date.now() < v.ttl - CAP_SLACK_MS) {
          ctx.env.stderr(`X509-SVID lifetime was capped shorter than specified ttl; expires "${rfc3339(svid.expires_at)}"\n`);
        }
        const key = await exportPKCS8(pair.privateKey);
        const svidPEM = svid.cert_chain.map((c) => toPEM(fromBase64(c), "CERTIFICATE")).join("");
        const keyPEM = toPEM(key, "PRIVATE KEY");
        const bundlePEM = roots.map((c) => toPEM(fromBase64(c), "CERTIFICATE")).join("");
        if (!v.write) {
          if (ctx.output === "json") ctx.env.stdout(goStructJSON({ x509_svid: svid.cert_chain, private_key: toBase64(key), root_cas: roots }));
          else ctx.env.stdout(`X509-SVID:\n${svidPEM}\nPrivate key:\n${keyPEM}\nRoot CAs:\n${bundlePEM}\n`);
          return;
        }
        const dir = outPath(fs, ctx, v.write);
        const svidPath = fs.join(dir, "svid.pem");
        const keyPath = fs.join(dir, "key.pem");
        const bundlePath = fs.join(dir, "bundle.pem");
        try {
          await fs.writeFileAtomic(svidPath, svidPEM, 0o644);
        } catch (err) {
          throw wrapError("unable to write SVID", err);
        }
        ctx.env.stdout(`X509-SVID written to ${svidPath}\n`);
        try {
          await fs.writeFileAtomic(keyPath, keyPEM, 0o600);
        } catch (err) {
          throw wrapError("unable to write key", err);
        }
        ctx.env.stdout(`Private key written to ${keyPath}\n`);
        try {
          await fs.writeFileAtomic(bundlePath, bundlePEM, 0o644);
        } catch (err) {
          throw wrapError("unable to write bundle", err);
        }
        ctx.env.stdout(`Root CAs written to ${bundlePath}\n`);
      }),
  });

  const jwt = defineCommand({
    name: "jwt mint",
    synopsis: "Mints a JWT-SVID",
    flags: [
      SOCKET_FLAG,
      { name: "spiffeID", kind: "string", usage: "SPIFFE ID of the JWT-SVID" },
      { name: "ttl", kind: "duration", default: 0, usage: "TTL of the JWT-SVID" },
      { name: "audience", kind: "stringList", usage: "Audience claim that will be included in the SVID. Can be used more than once." },
      { name: "write", kind: "string", usage: "File to write token to instead of stdout" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["jwt mint -spiffeID spiffe://example.org/web -audience api", "jwt mint -spiffeID spiffe://example.org/web -audience api -write token.jwt"],
    run: (ctx, { values: v }) =>
      spireAction(ctx, async () => {
        if (!v.spiffeID) throw fail("spiffeID must be specified");
        if (v.audience.length === 0) throw fail("at least one audience must be specified");
        const id = spiffeid.fromString(v.spiffeID);
        const ttl = ttlSeconds(v.ttl);
        let resp: { svid: { token: string; id: { trust_domain: string; path: string }; expires_at: number; issued_at: number } };
        try {
          const r = (await dial(v.socketPath).grpc(SVID.method.mintJWTSVID, {
            id: { trustDomain: id.trustDomain.name, path: id.path },
            ttl,
            audience: v.audience,
          })).svid;
          resp = {
            svid: {
              token: r?.token ?? "",
              id: { trust_domain: r?.id?.trustDomain ?? "", path: r?.id?.path ?? "" },
              expires_at: Number(r?.expiresAt ?? 0),
              issued_at: Number(r?.issuedAt ?? 0),
            },
          };
        } catch (err) {
          throw wrapError("unable to mint SVID", err);
        }
        const token = resp.svid.token;
        if (!token) throw fail("server response missing token");
        if (v.ttl > 0 && resp.svid.expires_at * 1000 - Date.now() < v.ttl - CAP_SLACK_MS) {
          ctx.env.stderr(`JWT-SVID lifetime was capped shorter than specified ttl; expires "${rfc3339(resp.svid.expires_at)}"\n`);
        }
        if (!v.write) {
          if (ctx.output === "json") {
            ctx.env.stdout(
              goJSON({ svid: { token, id: resp.svid.id, expires_at: String(resp.svid.expires_at), issued_at: String(resp.svid.issued_at), hint: "" } }),
            );
          } else ctx.env.stdout(`${token}\n`);
          return;
        }
        const p = outPath(fs, ctx, v.write);
        try {
          await fs.writeFileAtomic(p, token, 0o600);
        } catch (err) {
          throw wrapError("unable to write token", err);
        }
        ctx.env.stdout(`JWT-SVID written to ${p}\n`);
      }),
  });
  return [x509, jwt];
}
