// The run page's JSON viewer: the same bounded preview as json-preview.ts (at most previewLimits.chars
// of shown text, previewLimits.depth levels), written as HTML in one pass: every object and array is a
// native <details> (collapsible without script), every token a span whose class colours it (key,
// string, number, boolean, null). Everything shown is escaped here, since the page includes it raw.
import { previewLimits } from "./json-preview.ts";

export interface JsonView {
  html: string;
  /** Whether something was cut or collapsed, so the page says it is a preview. */
  truncated: boolean;
}

/** Levels open when the page loads; deeper ones start collapsed (a click or Enter opens them). */
const openLevels = 2;

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char]!);
}

type Token = "key" | "str" | "num" | "bool" | "null" | "other";

function scalarToken(value: unknown): [Token, string] {
  if (value === null) return ["null", "null"];
  if (typeof value === "string") return ["str", JSON.stringify(value)];
  if (typeof value === "number") return ["num", String(value)];
  if (typeof value === "bigint") return ["num", `${value}n`];
  if (typeof value === "boolean") return ["bool", String(value)];
  if (value instanceof Date) return ["str", JSON.stringify(Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString())];
  if (value === undefined) return ["null", "undefined"];
  return ["other", String(value)];
}

function entriesOf(value: object): Array<[string | null, unknown]> | null {
  if (Array.isArray(value)) return value.map((item) => [null, item]);
  if (value instanceof Set) return [...value].map((item) => [null, item]);
  if (value instanceof Map) return [...value].map(([key, item]) => [String(key), item]);
  if (value instanceof Date || value instanceof RegExp) return null;
  return Object.entries(value);
}

function listLike(value: unknown): boolean {
  return Array.isArray(value) || value instanceof Set;
}

export function jsonView(value: unknown, limits: { chars: number; depth: number } = previewLimits): JsonView {
  const html: string[] = [];
  // Markup is several times the text it wraps; the page stays bounded by this too (3 × the text).
  const maxHtml = limits.chars * 3;
  let htmlLength = 0;
  const push = (markup: string): void => {
    html.push(markup);
    htmlLength += markup.length;
  };
  let shown = 0;
  let full = false;
  let collapsed = false;
  // Shown text counts against the limit (markup does not); once full, only closing tags are written.
  const text = (token: Token | null, raw: string): void => {
    if (full) return;
    let part = raw;
    if (shown + part.length > limits.chars) {
      part = part.slice(0, limits.chars - shown);
      full = true;
    }
    shown += part.length;
    const escaped = escapeHtml(part);
    push(token ? `<span class="j-${token}">${escaped}</span>` : escaped);
    if (htmlLength >= maxHtml) full = true;
  };
  const write = (item: unknown, depth: number, key: string | null, last: boolean): void => {
    if (full) return;
    const entries = item !== null && typeof item === "object" ? entriesOf(item) : null;
    const comma = last ? "" : ",";
    const keyPart = () => {
      if (key !== null) {
        text("key", JSON.stringify(key));
        text(null, ": ");
      }
    };
    if (!entries || entries.length === 0 || depth >= limits.depth) {
      push('<div class="j-row">');
      keyPart();
      if (!entries) {
        const [token, shownText] = item instanceof RegExp ? (["other", String(item)] as [Token, string]) : scalarToken(item);
        text(token, shownText);
      } else {
        const isList = listLike(item);
        if (entries.length > 0) collapsed = true;
        text(null, isList ? (entries.length ? "[…]" : "[]") : entries.length ? "{…}" : "{}");
      }
      text(null, comma);
      push("</div>");
      return;
    }
    const isList = listLike(item);
    const [open, close] = isList ? ["[", "]"] : ["{", "}"];
    const count = `${entries.length} ${isList ? (entries.length === 1 ? "item" : "items") : entries.length === 1 ? "key" : "keys"}`;
    push(`<details class="j-node"${depth < openLevels ? " open" : ""}><summary>`);
    keyPart();
    text(null, open);
    push(`<span class="j-fold" aria-hidden="true">…${close}${comma}</span><span class="j-count">${count}</span></summary><div class="j-body">`);
    for (const [index, [childKey, child]] of entries.entries()) {
      if (full) break;
      write(child, depth + 1, childKey, index === entries.length - 1);
    }
    push("</div>");
    push('<div class="j-close">');
    text(null, close);
    text(null, comma);
    push("</div></details>");
  };
  if (typeof value === "string") {
    // A text payload is shown as written.
    text(null, value);
    return { html: `<pre class="json-text">${html.join("")}</pre>`, truncated: full };
  }
  write(value, 0, null, true);
  return { html: `<div class="json">${html.join("")}</div>`, truncated: full || collapsed };
}
