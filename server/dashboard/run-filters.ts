// The runs list's state, all of it in the URL: multi-value filters (status, task, tag, queue, version,
// machine), a created-at range, and a search by the start of a run id. Parsed once here into what the
// storage query takes, so every filter stays index-friendly: a partial task name becomes the list of
// known task names it matches (an `in` on the task index), the start of an id becomes an id range on
// the (environment_id, id) index, dates become UUIDv7 bounds.
import { uuidAtMs } from "../api/pagination.ts";
import { parseDurationMs } from "../engine/durations.ts";
import { runStatuses, type RunStatus } from "../engine/run-status.ts";
import { ApiError } from "../errors.ts";
import { fromPublicId } from "../ids.ts";
import type { RunListFilters } from "../storage/run-list.ts";

export type RawQuery = Record<string, string | string[] | undefined>;

export const multiFields = ["status", "task", "tag", "queue", "version", "machine"] as const;
export type MultiField = (typeof multiFields)[number];
const singleFields = ["period", "from", "to", "q", "batch", "schedule"] as const;
type SingleField = (typeof singleFields)[number];

export type RunsListState = Record<MultiField, string[]> & Partial<Record<SingleField, string>>;

export const periods: Array<[string, string]> = [["1h", "Last hour"], ["1d", "Last day"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];

const labels: Record<MultiField | SingleField, string> = {
  status: "Status",
  task: "Task",
  tag: "Tag",
  queue: "Queue",
  version: "Version",
  machine: "Machine",
  period: "Created",
  from: "From",
  to: "To",
  q: "Id starts with",
  batch: "Batch",
  schedule: "Schedule",
};

const maxValues = 50;
const maxLength = 256;

function values(raw: string | string[] | undefined): string[] {
  const list = [raw ?? []].flat().flatMap((value) => value.split("\n"));
  return [...new Set(list.map((value) => value.trim()).filter(Boolean))];
}

/** Reads the list's query string; a value that cannot be a filter is a 400 naming its field. */
export function parseRunsListQuery(query: RawQuery): RunsListState {
  const state = Object.fromEntries(multiFields.map((field) => [field, values(query[field])])) as unknown as RunsListState;
  for (const field of multiFields) {
    if (state[field].length > maxValues) throw new ApiError("VALIDATION_FAILED", `${field}: at most ${maxValues} values`);
    if (state[field].some((value) => value.length > maxLength)) throw new ApiError("VALIDATION_FAILED", `${field}: at most ${maxLength} characters a value`);
  }
  state.status = state.status.map((status) => status.toUpperCase());
  const unknown = state.status.find((status) => !runStatuses.includes(status as RunStatus));
  if (unknown !== undefined) throw new ApiError("VALIDATION_FAILED", `status: ${unknown} is not a run status (${runStatuses.join(", ")})`);
  for (const field of singleFields) {
    const value = values(query[field])[0];
    if (value === undefined) continue;
    if (value.length > maxLength) throw new ApiError("VALIDATION_FAILED", `${field}: at most ${maxLength} characters`);
    state[field] = value;
  }
  if (state.period !== undefined && parseDurationMs(state.period) === null) throw new ApiError("VALIDATION_FAILED", 'period: a duration like "1h" or "7d"');
  for (const field of ["from", "to"] as const) {
    if (state[field] !== undefined && dateOf(state[field]) === null) throw new ApiError("VALIDATION_FAILED", `${field}: a date and time like 2026-12-01T09:30 (UTC)`);
  }
  return state;
}

/** A date-time field's moment: `datetime-local` values carry no zone and are read as UTC, as the pages show times. */
function dateOf(text: string): number | null {
  const withZone = /[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) || !/^\d{4}-\d\d-\d\d/.test(text) ? null : ms;
}

const crockford = "0123456789abcdefghjkmnpqrstvwxyz";
const nilId = "00000000-0000-0000-0000-000000000000";
const maxId = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/**
 * The run ids that start with `text` ("run_01m8t4" or "01m8t4"), as an id range: public ids are the
 * UUID in big-endian base32, so a prefix is a contiguous range. Null when the text cannot start an id.
 */
export function runIdPrefixRange(text: string): { from: string; to: string } | null {
  const body = text.toLowerCase().replace(/^run_/, "");
  if (body.length === 0 || body.length > 26 || [...body].some((char) => !crockford.includes(char))) return null;
  const low = fromPublicId("run", `run_${body.padEnd(26, "0")}`);
  if (!low) return null;
  return { from: low, to: fromPublicId("run", `run_${body.padEnd(26, "z")}`) ?? maxId };
}

/** True when `q` is worth reading as the start of a run id rather than an idempotency key. */
export function looksLikeRunIdPrefix(q: string): boolean {
  return /^run_/i.test(q) || (q.length >= 4 && runIdPrefixRange(q) !== null && /\d/.test(q));
}

/** The storage filters for a state; `knownTasks` turns partial task names into the names they match. */
export function runListFilters(state: RunsListState, knownTasks: string[], nowMs: number): RunListFilters {
  const tasks = new Set<string>();
  for (const wanted of state.task) {
    const needle = wanted.toLowerCase();
    const matches = knownTasks.filter((task) => task.toLowerCase().includes(needle));
    // A name no registered task has (an old task's runs) is still looked up as written.
    for (const task of matches.length ? matches : [wanted]) tasks.add(task);
  }
  const lower: string[] = [];
  const upper: string[] = [];
  if (state.period) lower.push(uuidAtMs(nowMs - parseDurationMs(state.period)!));
  if (state.from) lower.push(uuidAtMs(dateOf(state.from)!));
  if (state.to) upper.push(uuidAtMs(dateOf(state.to)!, true));
  let idempotencyKey: string | undefined;
  if (state.q) {
    const range = looksLikeRunIdPrefix(state.q) ? runIdPrefixRange(state.q) : null;
    if (range) {
      lower.push(range.from);
      upper.push(range.to);
    } else if (/^run_/i.test(state.q)) {
      upper.push(nilId); // "run_" and something no id has: nothing matches.
    } else {
      idempotencyKey = state.q;
    }
  }
  return {
    statuses: state.status.length ? (state.status as RunStatus[]) : undefined,
    taskIdentifiers: tasks.size ? [...tasks] : undefined,
    tags: state.tag.length ? state.tag : undefined,
    queues: state.queue.length ? state.queue : undefined,
    versions: state.version.length ? state.version : undefined,
    machines: state.machine.length ? state.machine : undefined,
    idempotencyKey,
    batchId: state.batch ? (fromPublicId("batch", state.batch) ?? nilId) : undefined,
    scheduleId: state.schedule ? (fromPublicId("sched", state.schedule) ?? nilId) : undefined,
    createdFromId: lower.length ? lower.sort().at(-1) : undefined,
    createdToId: upper.length ? upper.sort()[0] : undefined,
  };
}

/** The query string of a state (plus extra parameters such as a page cursor). */
export function stateQuery(state: RunsListState, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const field of multiFields) for (const value of state[field]) params.append(field, value);
  for (const field of singleFields) if (state[field]) params.set(field, state[field]);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params.toString();
}

export function hasFilters(state: RunsListState): boolean {
  return multiFields.some((field) => state[field].length > 0) || singleFields.some((field) => state[field] !== undefined);
}

export interface FilterChip {
  field: string;
  label: string;
  value: string;
  /** The list without this one value: chips are links, the URL is the state. */
  href: string;
}

export function filterChips(state: RunsListState, listUrl: string): FilterChip[] {
  const chips: FilterChip[] = [];
  const without = (next: RunsListState) => {
    const query = stateQuery(next);
    return query ? `${listUrl}?${query}` : listUrl;
  };
  for (const field of multiFields) {
    for (const value of state[field]) {
      chips.push({ field, label: labels[field], value, href: without({ ...state, [field]: state[field].filter((other) => other !== value) }) });
    }
  }
  for (const field of singleFields) {
    const value = state[field];
    if (value === undefined) continue;
    const shown = field === "period" ? (periods.find(([key]) => key === value)?.[1] ?? value) : field === "from" || field === "to" ? `${value.replace("T", " ")} UTC` : value;
    chips.push({ field, label: labels[field], value: shown, href: without({ ...state, [field]: undefined }) });
  }
  return chips;
}
