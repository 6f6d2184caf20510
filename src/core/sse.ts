/**
 * A reader for text/event-stream bodies. Hand-written because it is the 40 lines of the WHATWG parsing rules
 * we need, over a ReadableStream that both runtimes' fetch return; the npm parsers add a dependency for no gain.
 * @module
 */

export interface SSEEvent {
  event: string;
  data: string;
  id: string;
}

/** Yields events until the stream ends; comments (keep-alives) are skipped. */
export async function* readSSE(body: ReadableStream<Uint8Array>): AsyncGenerator<SSEEvent> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
  let buf = "";
  let ev: SSEEvent = { event: "message", data: "", id: "" };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.search(/\r\n|\r|\n/)) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (hasData) yield ev;
          ev = { event: "message", data: "", id: "" };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let val = colon === -1 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") {
          ev.data = hasData ? ev.data + "\n" + val : val;
          hasData = true;
        } else if (field === "event") ev.event = val;
        else if (field === "id") ev.id = val;
      }
    }
  } finally {
    // A consumer that stops early cancels the body, which tells the server the stream is gone.
    await reader.cancel().catch(() => {});
  }
}
