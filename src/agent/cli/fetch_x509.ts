/** `wisp-agent api fetch x509` (alias `fetch x509`, `fetch`): SPIRE's output and `-write` files. @module */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Command, defineCommand } from "../../core/cli/command.ts";
import { OUTPUT_FLAG } from "../../core/cli/printer.ts";
import { toBase64 } from "../../core/encoding.ts";
import { DeadlineExceededError } from "./deadline.ts";
import type { FS } from "../../core/ports/fs.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { WorkloadDialer } from "../../core/ports/workload_client.ts";
import { parseCertificate, splitDER, toPEM, verifyX509SVID } from "../../core/x509/mod.ts";
import { FETCH_X509_SVID } from "../workload/codec.ts";
import { X509SVIDRequestSchema, type X509SVIDResponse, X509SVIDResponseSchema } from "../workload/proto/workload_pb.ts";
import { API_SOCKET_FLAG, rpcError, SECURITY_HEADER, socketAddress, TIMEOUT_FLAG } from "./common.ts";
import { firstMessage } from "./first_message.ts";

export interface FetchDeps {
  dial: WorkloadDialer;
  fs: FS;
  clock: Clock;
}

/** SPIRE's printX509SVIDResponse: one block per SVID with validity of leaf, intermediates and CAs. */
export function describe(res: X509SVIDResponse, ms: number): string {
  const out = [`Received ${res.svids.length} svid${res.svids.length === 1 ? "" : "s"} after ${ms.toFixed(1)}ms`];
  for (const s of res.svids) {
    const chain = splitDER(s.x509Svid);
    const leaf = parseCertificate(chain[0]!);
    out.push("", `SPIFFE ID:\t\t${s.spiffeId}`);
    if (s.hint) out.push(`Hint:\t\t\t${s.hint}`);
    out.push(`SVID Valid After:\t${leaf.notBefore.toISOString()}`, `SVID Valid Until:\t${leaf.notAfter.toISOString()}`);
    chain.slice(1).forEach((d, i) => {
      const c = parseCertificate(d);
      out.push(`Intermediate #${i + 1} Valid After:\t${c.notBefore.toISOString()}`, `Intermediate #${i + 1} Valid Until:\t${c.notAfter.toISOString()}`);
    });
    splitDER(s.bundle).forEach((d, i) => {
      const c = parseCertificate(d);
      out.push(`CA #${i + 1} Valid After:\t${c.notBefore.toISOString()}`, `CA #${i + 1} Valid Until:\t${c.notAfter.toISOString()}`);
    });
  }
  return out.join("\n") + "\n";
}

export function fetchX509Command(deps: FetchDeps): Command {
  return defineCommand({
    name: "api fetch x509",
    aliases: ["api fetch", "fetch x509", "fetch"],
    synopsis: "Fetches X509-SVIDs from the Workload API",
    flags: [
      API_SOCKET_FLAG,
      TIMEOUT_FLAG,
      {
        name: "write",
        kind: "string",
        usage: "Write SVID data to the specified path (optional; only available for pretty output format)",
        placeholder: "string",
      },
      { name: "silent", kind: "bool", usage: "Suppress stdout" },
      OUTPUT_FLAG,
    ] as const,
    examples: ["api fetch x509", "api fetch x509 -write /tmp/svid/", "fetch x509 -socketPath /run/wisp/api.sock -output json"],
    async run(ctx, { values: v }) {
      const start = deps.clock.now().getTime();
      const conn = deps.dial(socketAddress(v.socketPath, ctx.env));
      let res: X509SVIDResponse;
      try {
        const bytes = await firstMessage(conn, FETCH_X509_SVID, toBinary(X509SVIDRequestSchema, create(X509SVIDRequestSchema)), SECURITY_HEADER, v.timeout);
        res = fromBinary(X509SVIDResponseSchema, bytes);
      } catch (err) {
        throw err instanceof DeadlineExceededError ? err : rpcError(err);
      } finally {
        conn.close();
      }
      const ms = deps.clock.now().getTime() - start;
      for (const s of res.svids) await verifyX509SVID(splitDER(s.x509Svid), splitDER(s.bundle), deps.clock.now());
      if (!v.silent) {
        ctx.printer.result(() => describe(res, ms), {
          svids: res.svids.map((s) => ({
            spiffe_id: s.spiffeId,
            hint: s.hint,
            x509_svid: splitDER(s.x509Svid).map(toBase64),
            bundle: splitDER(s.bundle).map(toBase64),
          })),
        });
      }
      if (v.write) await writeFiles(deps.fs, ctx.env.cwd, v.write, res, (s) => !v.silent && ctx.env.stdout(s));
      return 0;
    },
  });
}

async function writeFiles(fs: FS, cwd: string, dir: string, res: X509SVIDResponse, say: (s: string) => void): Promise<void> {
  const base = dir.startsWith("/") ? dir : fs.join(cwd, dir);
  await fs.mkdir(base, 0o755);
  const tds = Object.keys(res.federatedBundles).sort();
  for (const [i, s] of res.svids.entries()) {
    const svidPath = fs.join(base, `svid.${i}.pem`);
    const keyPath = fs.join(base, `svid.${i}.key`);
    const bundlePath = fs.join(base, `bundle.${i}.pem`);
    say(`Writing SVID #${i} to file ${svidPath}.\n`);
    await fs.writeFileAtomic(svidPath, splitDER(s.x509Svid).map((d) => toPEM(d, "CERTIFICATE")).join(""), 0o644);
    say(`Writing key #${i} to file ${keyPath}.\n`);
    await fs.writeFileAtomic(keyPath, toPEM(s.x509SvidKey, "PRIVATE KEY"), 0o600);
    say(`Writing bundle #${i} to file ${bundlePath}.\n`);
    await fs.writeFileAtomic(bundlePath, splitDER(s.bundle).map((d) => toPEM(d, "CERTIFICATE")).join(""), 0o644);
    for (const [j, td] of tds.entries()) {
      const p = fs.join(base, `federated_bundle.${i}.${j}.pem`);
      say(`Writing federated bundle #${j} for trust domain ${td} to file ${p}.\n`);
      await fs.writeFileAtomic(p, splitDER(res.federatedBundles[td]!).map((d) => toPEM(d, "CERTIFICATE")).join(""), 0o644);
    }
  }
  if (res.svids.length > 0) {
    say(`\nVerify with:\n  openssl verify -CAfile ${fs.join(base, "bundle.0.pem")} -untrusted ${fs.join(base, "svid.0.pem")} ${fs.join(base, "svid.0.pem")}\n`);
  }
}
