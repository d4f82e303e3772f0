// JSON as the run page shows it: pretty-printed, but never more than previewLimits.chars of text and
// never deeper than previewLimits.depth levels (deeper values are collapsed to "[…]" / "{…}"). Any
// payload the API accepted renders in bounded time and size; the whole value is a link away (raw).
export const previewLimits = { chars: 64 * 1024, depth: 24 } as const;

export interface JsonPreview {
  text: string;
  /** Whether something was cut or collapsed, so the page offers the raw value. */
  truncated: boolean;
}

class BoundedText {
  readonly parts: string[] = [];
  length = 0;
  full = false;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  add(text: string): void {
    if (this.full) return;
    const room = this.max - this.length;
    if (text.length > room) {
      this.parts.push(text.slice(0, room));
      this.length = this.max;
      this.full = true;
      return;
    }
    this.parts.push(text);
    this.length += text.length;
  }
}

function scalar(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return JSON.stringify(Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString());
  if (value === undefined) return "undefined";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "symbol" || typeof value === "function") return String(value);
  return JSON.stringify(value) ?? String(value);
}

function entriesOf(value: object): Array<[string | null, unknown]> | null {
  if (Array.isArray(value)) return value.map((item) => [null, item]);
  if (value instanceof Set) return [...value].map((item) => [null, item]);
  if (value instanceof Map) return [...value].map(([key, item]) => [String(key), item]);
  if (value instanceof Date || value instanceof RegExp) return null;
  return Object.entries(value);
}

export function jsonPreview(value: unknown, limits: { chars: number; depth: number } = previewLimits): JsonPreview {
  const out = new BoundedText(limits.chars);
  let collapsed = false;
  // Recursion is bounded by limits.depth, whatever the value's own depth.
  const write = (item: unknown, depth: number): void => {
    if (out.full) return;
    const entries = item !== null && typeof item === "object" ? entriesOf(item) : null;
    if (!entries) {
      out.add(item instanceof RegExp ? String(item) : scalar(item));
      return;
    }
    const isList = entries.every(([key]) => key === null);
    const [open, close] = isList ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) {
      out.add(open + close);
      return;
    }
    if (depth >= limits.depth) {
      collapsed = true;
      out.add(`${open}…${close}`);
      return;
    }
    const indent = "  ".repeat(depth + 1);
    out.add(`${open}\n`);
    for (const [index, [key, child]] of entries.entries()) {
      if (out.full) return;
      out.add(indent);
      if (key !== null) out.add(`${JSON.stringify(key)}: `);
      write(child, depth + 1);
      out.add(index < entries.length - 1 ? ",\n" : "\n");
    }
    out.add(`${"  ".repeat(depth)}${close}`);
  };
  if (typeof value === "string") out.add(value);
  else write(value, 0);
  return { text: out.parts.join(""), truncated: out.full || collapsed };
}
