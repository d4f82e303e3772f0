// A run error's stack as the run page shows it. Attempt processes run the bundle with inline source
// maps, so stored frames already name the user's .ts files and lines; here each frame is sorted into
// the user's code (shown, highlighted) and the rest — Ratchet's SDK and worker, dependencies, Node.js
// internals — which is dimmed and folded, so the line that threw is the first thing one reads.
import { fileURLToPath } from "node:url";
import { errorText, type ShownError } from "./error-text.ts";

export type FrameKind = "user" | "ratchet" | "dependency" | "node";

export interface StackFrame {
  kind: FrameKind;
  /** The function, as V8 wrote it ("Object.run", "async handler"), or "" for an anonymous one. */
  fn: string;
  /** The file without its file:// scheme, or the whole location when it is not a file. */
  file: string;
  line: number | null;
  column: number | null;
}

export interface ErrorStack {
  /** "Name: message" and any further lines before the first frame. */
  heading: string;
  /** Frames and the lines between them ("Caused by: …" is kept as a heading-like line). */
  items: Array<{ frame: StackFrame } | { text: string }>;
  hasUserFrames: boolean;
}

// This server's own sources: in a checkout, the SDK and worker a task imports are these files.
const root = fileURLToPath(new URL("../../", import.meta.url));
const ratchetDirs = ["sdk/", "worker/", "server/"].map((dir) => root + dir);

const framePattern = /^\s*at (?:(.*?) \((.*)\)|(.*))\s*$/;
const locationPattern = /^(.*?):(\d+):(\d+)$/;

function kindOf(file: string): FrameKind {
  if (file.startsWith("node:")) return "node";
  if (file.includes("/node_modules/ratchet/") || file.includes("/.ratchet/build/") || ratchetDirs.some((dir) => file.startsWith(dir))) return "ratchet";
  if (file.includes("/node_modules/")) return "dependency";
  return "user";
}

export function parseFrame(line: string): StackFrame | null {
  const match = framePattern.exec(line);
  if (!match) return null;
  const fn = match[1] ?? "";
  const where = (match[2] ?? match[3] ?? "").replace(/^file:\/\//, "");
  const location = locationPattern.exec(where);
  const file = location ? location[1]! : where;
  // No file and line ("<anonymous>", "native", "index 0"): V8's own frames.
  return { kind: location ? kindOf(file) : "node", fn, file, line: location ? Number(location[2]) : null, column: location ? Number(location[3]) : null };
}

export function errorStack(error: ShownError): ErrorStack {
  const lines = errorText(error).split("\n");
  const first = lines.findIndex((line) => parseFrame(line) !== null);
  const headLines = first === -1 ? lines : lines.slice(0, first);
  const items: ErrorStack["items"] = [];
  for (const line of first === -1 ? [] : lines.slice(first)) {
    const frame = parseFrame(line);
    if (frame) items.push({ frame });
    else if (line.trim() !== "") items.push({ text: line });
  }
  return { heading: headLines.join("\n"), items, hasUserFrames: items.some((item) => "frame" in item && item.frame.kind === "user") };
}

/** Items grouped for the page: each run of frames outside the user's code becomes one fold. */
export function stackGroups(stack: ErrorStack): Array<{ type: "frame"; frame: StackFrame } | { type: "text"; text: string } | { type: "fold"; frames: StackFrame[] }> {
  const groups: ReturnType<typeof stackGroups> = [];
  for (const item of stack.items) {
    if ("text" in item) groups.push({ type: "text", text: item.text });
    else if (item.frame.kind === "user" || !stack.hasUserFrames) groups.push({ type: "frame", frame: item.frame });
    else {
      const last = groups.at(-1);
      if (last?.type === "fold") last.frames.push(item.frame);
      else groups.push({ type: "fold", frames: [item.frame] });
    }
  }
  return groups;
}
