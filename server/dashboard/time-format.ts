// The dashboard's one date format: a relative time ("3 min ago", "in 2 h") with the exact UTC time
// in the tooltip and the machine-readable instant in datetime. Templates call it as it.when(value).

const units: [number, string][] = [
  [60, "s"],
  [60, "min"],
  [24, "h"],
  [30, "d"],
  [12, "mo"],
  [Number.POSITIVE_INFINITY, "y"],
];

/** "2026-12-01 22:57:37 UTC": sortable, unambiguous, the same in every page. */
export function exactTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function relativeTime(date: Date, now: Date = new Date()): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  let amount = Math.abs(seconds);
  if (amount < 5) return "just now";
  for (const [size, unit] of units) {
    if (amount < size) return seconds < 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
    amount = Math.floor(amount / size);
  }
  return exactTime(date);
}

/** The <time> element for a date (or ISO string); empty for null, undefined or an unparsable value. */
export function when(value: Date | string | null | undefined, now: Date = new Date()): string {
  if (value === null || value === undefined || value === "") return "";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  // Only digits, dashes, colons and letters of fixed words reach the HTML, so nothing needs escaping.
  return `<time datetime="${date.toISOString()}" title="${exactTime(date)}">${relativeTime(date, now)}</time>`;
}
