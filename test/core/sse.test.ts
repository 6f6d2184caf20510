import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { readSSE } from "../../src/core/sse.ts";

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

async function all(chunks: string[]) {
  const out = [];
  for await (const e of readSSE(body(chunks))) out.push(e);
  return out;
}

test("readSSE() parses events, ids, multi-line data and skips comments", async () => {
  const evs = await all([": keep-alive\n\n", 'event: snapshot\nid: 1\ndata: {"a":1}\n\n', "data: x\ndata: y\n\n"]);
  assert.equal(evs, [
    { event: "snapshot", id: "1", data: '{"a":1}' },
    { event: "message", id: "", data: "x\ny" },
  ]);
});

test("readSSE() handles lines split across chunks and CRLF split between chunks", async () => {
  const evs = await all(["eve", "nt: s\r", "\ndata: 12", "34\r", "\n\r", "\n"]);
  assert.equal(evs, [{ event: "s", id: "", data: "1234" }]);
  const cr = await all(["data: a\r\rdata: b\n\n"]);
  assert.equal(cr.map((e) => e.data), ["a", "b"]);
});

test("readSSE() reads a 20 MB event delivered in 16 KB chunks", async () => {
  const big = "x".repeat(20 * 1024 * 1024);
  const text = `event: snapshot\ndata: ${big}\n\n`;
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += 16384) chunks.push(text.slice(i, i + 16384));
  const evs = await all(chunks);
  assert.is(evs.length, 1);
  assert.is(evs[0]!.data.length, big.length);
});

test.run();
