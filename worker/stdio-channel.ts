// Worker ↔ executor messages as lines on a byte stream, for executors without a Node IPC channel (in
// a container). A message line starts with a marker no task output starts with; other lines are the
// task's own output, passed on as logs.
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

const marker = "\u001eratchet-message ";

export function encodeChannelLine(message: unknown): string {
  return `${marker}${JSON.stringify(message)}\n`;
}

/** Calls `onMessage` for each message line and `onOther` for each other line; `onEnd` at the end. */
export function readChannelLines<T>(stream: Readable, onMessage: (message: T) => void, onEnd: () => void, onOther?: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on("line", (line) => {
    // A task that wrote without a newline leaves its text in front of the marker.
    const at = line.indexOf(marker);
    if (at < 0) return onOther?.(line);
    if (at > 0) onOther?.(line.slice(0, at));
    onMessage(JSON.parse(line.slice(at + marker.length)) as T);
  });
  lines.once("close", onEnd);
}
