/** Log sinks on Node: stderr or an append-only file, text or JSON. @module */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { formatRecord, type LogSink } from "../../core/log/logger.ts";

export function logSink(o: { format: "text" | "json"; file?: string | undefined }): LogSink {
  if (o.file) {
    mkdirSync(dirname(o.file), { recursive: true });
    const file = o.file;
    return (r) => appendFileSync(file, formatRecord(r, o.format) + "\n", { mode: 0o640 });
  }
  return (r) => {
    process.stderr.write(formatRecord(r, o.format) + "\n");
  };
}
