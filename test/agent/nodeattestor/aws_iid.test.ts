/** The aws_iid agent attestor against the emulator's IMDS: IMDSv2, the IMDSv1 fallback, token refresh, unreachable IMDS. @module */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { AWSIIDAgentAttestor, imdsBaseURL } from "../../../src/agent/nodeattestor/aws_iid.ts";
import { InternalError, InvalidArgumentError, type ServiceError, UnavailableError } from "../../../src/core/errors.ts";
import { type EmulatedInstance, type RunningEmulator, startEmulator } from "../../emulator/emulator_process.ts";

let emu: RunningEmulator;
let inst: EmulatedInstance;
let setupError: unknown;

test.before(async () => {
  try {
    emu = await startEmulator();
    inst = await emu.defineInstance();
  } catch (err) {
    setupError = err;
  }
});

test.after(async () => {
  await emu?.stop();
  if (emu) fs.rmSync(emu.dataDir, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected a failure");
}

/** A loopback HTTP server answering with `handler`; resolves with its base URL and a close function. */
async function fakeIMDS(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void>; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url} token=${req.headers["x-aws-ec2-metadata-token"] ?? "-"}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise((r) => server.close(() => r())) };
}

test("payload() reads document, signature and rsa2048 over IMDSv2, as SPIRE's JSON; the endpoint path is replaced", async () => {
  if (setupError) throw setupError;
  const a = new AWSIIDAgentAttestor({ endpoint: `${inst.imdsEndpoint}/latest` });
  assert.is(a.name, "aws_iid");
  const p = JSON.parse(new TextDecoder().decode(await a.payload())) as Record<string, string>;
  assert.equal(Object.keys(p), ["document", "signature", "rsa2048"]);
  assert.is(p["document"], inst.document);
  assert.ok(p["signature"]!.length > 100);
  assert.ok(p["rsa2048"]!.length > 1000);
});

test("imdsBaseURL() defaults to AWS_EC2_METADATA_SERVICE_ENDPOINT, then the link-local address", () => {
  assert.is(imdsBaseURL({ env: () => "http://127.0.0.1:1234/x" }), "http://127.0.0.1:1234");
  assert.is(imdsBaseURL({ env: () => undefined }), "http://169.254.169.254");
  assert.is(imdsBaseURL({ endpoint: "http://10.0.0.1:80/latest", env: () => "http://127.0.0.1:1" }), "http://10.0.0.1");
  assert.throws(() => imdsBaseURL({ endpoint: "ftp://x" }), (e: unknown) => e instanceof InvalidArgumentError);
});

test("payload() refreshes a token the service no longer accepts (401) and retries", async () => {
  const a = new AWSIIDAgentAttestor({ endpoint: inst.imdsEndpoint });
  await a.payload();
  // The emulator's clock jumps past the token's 300 s TTL while the agent still holds it.
  await emu.control("/_emulator/config", { clockOffsetMs: 400_000 });
  try {
    const p = JSON.parse(new TextDecoder().decode(await a.payload())) as Record<string, string>;
    assert.is(p["document"], inst.document);
  } finally {
    await emu.control("/_emulator/config", { clockOffsetMs: 0 });
  }
});

test("payload() falls back to tokenless IMDSv1 when the token PUT is refused (405) or its TTL is not echoed", async () => {
  for (const tokenAnswer of [405, "no-ttl"] as const) {
    const imds = await fakeIMDS((req, res) => {
      if (req.method === "PUT") {
        if (tokenAnswer === 405) res.writeHead(405).end();
        else res.writeHead(200).end("tok");
        return;
      }
      res.writeHead(200).end(req.url!.split("/").pop());
    });
    try {
      const p = JSON.parse(new TextDecoder().decode(await new AWSIIDAgentAttestor({ endpoint: imds.url }).payload())) as Record<string, string>;
      assert.equal(p, { document: "document", signature: "signature", rsa2048: "rsa2048" });
      assert.ok(imds.requests.filter((r) => r.startsWith("GET")).every((r) => r.endsWith("token=-")), imds.requests.join("\n"));
    } finally {
      await imds.close();
    }
  }
});

test("payload() fails at once on a 400 token answer and on a failing GET", async () => {
  const imds = await fakeIMDS((req, res) => {
    if (req.method === "PUT") res.writeHead(400).end();
  });
  try {
    const err = await rejects(new AWSIIDAgentAttestor({ endpoint: imds.url }).payload());
    assert.instance(err, InternalError);
    assert.is(err.message, `failed to get an EC2 metadata session token from ${imds.url}: HTTP 400`);
  } finally {
    await imds.close();
  }
  const notFound = await fakeIMDS((req, res) => {
    if (req.method === "PUT") res.writeHead(200, { "x-aws-ec2-metadata-token-ttl-seconds": "300" }).end("tok");
    else res.writeHead(404).end();
  });
  try {
    const err = await rejects(new AWSIIDAgentAttestor({ endpoint: notFound.url }).payload());
    assert.instance(err, InternalError);
    assert.is(err.message, `failed to get /latest/dynamic/instance-identity/document from the EC2 instance metadata service at ${notFound.url}: HTTP 404`);
  } finally {
    await notFound.close();
  }
});

test("payload() reports an unreachable IMDS as Unavailable, so the agent retries with backoff", async () => {
  const imds = await fakeIMDS(() => undefined);
  const url = imds.url;
  await imds.close();
  const err = await rejects(new AWSIIDAgentAttestor({ endpoint: url }).payload());
  assert.instance(err, UnavailableError);
  assert.is(err.code, "ERR_UNAVAILABLE");
  assert.match(err.message, new RegExp(`^unable to reach the EC2 instance metadata service at ${url}: `));
});

test.run();
