// Keyset pagination over time-ordered ids, newest first, as Trigger.dev's list endpoints page:
// `page[after]` goes to older items (next), `page[before]` to newer ones (previous).

export interface PageCursor {
  /** Items older than this id (the next page). */
  after?: string;
  /** Items newer than this id (the previous page). */
  before?: string;
}

/**
 * The one cursor a request pages from. `before` wins when both are sent, as in Trigger.dev: the
 * official SDK's getPreviousPage() keeps the `page[after]` of the request it came from and adds
 * `page[before]`.
 */
export function pageCursor(after: string | undefined, before: string | undefined): PageCursor {
  if (before !== undefined) return { before };
  if (after !== undefined) return { after };
  return {};
}

/** Trims the size + 1 rows a query returned to one page, and works out the cursors. */
export function keysetPage<T extends { id: string }>(
  rows: T[],
  options: { size: number } & PageCursor,
  cursorOf: (row: T) => string,
): { page: T[]; pagination: { next?: string; previous?: string } } {
  const backwards = options.before !== undefined;
  const hasMore = rows.length > options.size;
  const page = backwards ? (hasMore ? rows.slice(1) : rows) : rows.slice(0, options.size);
  const pagination: { next?: string; previous?: string } = {};
  const first = page[0];
  const last = page.at(-1);
  if (last && (backwards || hasMore)) pagination.next = cursorOf(last);
  if (first && (backwards ? hasMore : options.after !== undefined)) pagination.previous = cursorOf(first);
  return { page, pagination };
}

/** The lowest (or highest) UUIDv7 of a millisecond: bounds for items created in a time range. */
export function uuidAtMs(ms: number, upper = false): string {
  const hex = Math.max(0, Math.min(ms, 2 ** 48 - 1)).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${upper ? "ffff-ffff-ffffffffffff" : "0000-0000-000000000000"}`;
}
