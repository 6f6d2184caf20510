/**
 * A reader for text/event-stream bodies. Hand-written because it is the few lines of the WHATWG parsing rules we
 * need, over a ReadableStream that both runtimes' fetch return; the npm parsers add a dependency for no gain.
 * It scans only the bytes each chunk adds, so a multi-megabyte event (a large sync snapshot) costs linear time.
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
  // The unfinished line, kept as pieces and joined once when its end arrives.
  let pieces: string[] = [];
  let skipLF = false;
  let ev: SSEEvent = { event: "message", data: "", id: "" };
  let dataParts: string[] = [];
  const takeLine = (line: string): SSEEvent | undefined => {
    if (line === "") {
      const done = dataParts.length > 0 ? { ...ev, data: dataParts.join("\n") } : undefined;
      ev = { event: "message", data: "", id: "" };
      dataParts = [];
      return done;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let val = colon === -1 ? "" : line.slice(colon + 1);
    if (val.startsWith(" ")) val = val.slice(1);
    if (field === "data") dataParts.push(val);
    else if (field === "event") ev.event = val;
    else if (field === "id") ev.id = val;
    return undefined;
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let start = 0;
      if (skipLF && value.startsWith("\n")) start = 1;
      skipLF = false;
      for (let i = start; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        pieces.push(value.slice(start, i));
        const line = pieces.length === 1 ? pieces[0]! : pieces.join("");
        pieces = [];
        if (c === 13) {
          if (i + 1 < value.length) {
            if (value.charCodeAt(i + 1) === 10) i++;
          } else skipLF = true; // a CR at a chunk's end may be followed by the LF of a CRLF
        }
        start = i + 1;
        const out = takeLine(line);
        if (out) yield out;
      }
      if (start < value.length) pieces.push(value.slice(start));
    }
  } finally {
    // A consumer that stops early cancels the body, which tells the server the stream is gone.
    await reader.cancel().catch(() => {});
  }
}
