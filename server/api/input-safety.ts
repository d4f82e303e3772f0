// Input no field may carry, whatever the route: text Postgres cannot store (a NUL character, or a
// lone UTF-16 surrogate, which is not Unicode), and JSON nested deeper than limits.jsonDepth (deep
// enough to overflow a recursive reader: JSON.stringify, zod, the dashboard's renderer).
// conventions.ts checks every request's path parameters, query string and JSON body with these
// before any route runs; routes that read text of their own (NDJSON lines, callbacks) call them.
import { limits } from "./limits.ts";

/** The first nesting level past `limit` in JSON text, scanned without parsing; null when within it. */
export function jsonDepthBeyond(text: string, limit: number = limits.jsonDepth): number | null {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c) index += 1; // a backslash escapes the next character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > limit) return depth;
    } else if (code === 0x5d || code === 0x7d) depth -= 1;
  }
  return null;
}

export function jsonDepthProblem(field: string, text: string): string | null {
  return jsonDepthBeyond(text) === null ? null : `${field}: JSON is nested deeper than ${limits.jsonDepth} levels`;
}

/** Why a string cannot be stored, or null when it can. */
export function textProblem(text: string): string | null {
  if (text.includes("\u0000")) return "must not contain NUL characters (\\u0000)";
  if (!text.isWellFormed()) return "must be valid Unicode (it has a lone surrogate)";
  return null;
}

/**
 * The first string (or object key) in a value that cannot be stored, as "field.path: problem";
 * null when there is none. Call it on values already known to be within limits.jsonDepth.
 */
export function unsafeTextIn(value: unknown, path: string): string | null {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem ? `${path}: ${problem}` : null;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = unsafeTextIn(item, `${path}.${index}`);
      if (found) return found;
    }
    return null;
  }
  // A streamed body (a Readable) or a Buffer is the route's to read, not a tree of fields.
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value) && typeof (value as { pipe?: unknown }).pipe !== "function") {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem = textProblem(key);
      if (keyProblem) return `${path}: the key ${JSON.stringify(key.toWellFormed())} ${keyProblem}`;
      const found = unsafeTextIn(item, `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** Text a log or an error message may keep: NUL and lone surrogates become U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll("\u0000", "\uFFFD");
}

/** A value (within limits.jsonDepth) with every string and key made storable. */
export function storableJson(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storableText(key), storableJson(item)]));
  }
  return value;
}
