// Bulk actions in the background: each step takes the oldest pending action no other server holds
// (FOR UPDATE SKIP LOCKED, so replicas share the work), handles one chunk of its runs in id order
// through the same cancel and replay as the single-run routes, and records the chunk's progress. An
// abort waits for the chunk in hand and stops the next.
import type { Logger } from "pino";
import { toPublicId } from "../ids.ts";
import { bulkActionRunIds, bulkActionsRecordChunk, bulkActionsTakePending, environmentTypeOf, runsCancelChunk } from "../storage/bulk-actions.ts";
import { replayRun } from "./run-actions.ts";
import { completeWaitpointsForFinishedRun } from "./waitpoints.ts";
import type { EngineDeps } from "./trigger.ts";

const canceledError = { type: "STRING_ERROR", message: "Run was canceled" };

/** Cancels a chunk of runs at once (what cancelRun does for one); how many were found. */
async function cancelChunk(deps: EngineDeps, environmentId: string, ids: string[]): Promise<number> {
  const now = deps.clock.now();
  const { found, resumed } = await deps.db.sql.begin(async (tx) => {
    const result = await runsCancelChunk(tx, environmentId, ids, canceledError, now);
    const environments: string[] = [];
    for (const id of result.awaited) environments.push(...(await completeWaitpointsForFinishedRun(tx, id, now)));
    return { found: result.found, resumed: environments };
  });
  for (const environment of new Set(resumed)) deps.notifier.queueChanged(environment);
  deps.notifier.queueChanged(environmentId);
  // Wakes the environment's long-polling heartbeats, so workers holding flagged runs hear at once.
  deps.notifier.leasesChanged(environmentId);
  return found;
}

/** Handles one chunk of one pending action; the number of runs handled (0: nothing to do). */
export async function processBulkActionChunk(deps: EngineDeps, chunkSize: number): Promise<number> {
  return deps.db.sql.begin(async (tx) => {
    const action = await bulkActionsTakePending(tx);
    if (!action) return 0;
    const ids = await bulkActionRunIds(deps.db.kysely, action, chunkSize);
    const environmentType = action.type === "REPLAY" ? await environmentTypeOf(tx, action.environmentId) : null;
    let success = 0;
    let failure = 0;
    if (action.type === "CANCEL" && ids.length > 0) {
      // Already-finished runs count as done: there is nothing left to cancel.
      success = await cancelChunk(deps, action.environmentId, ids);
      failure = ids.length - success;
    }
    for (const id of action.type === "REPLAY" ? ids : []) {
      try {
        await replayRun(deps, { environmentId: action.environmentId, environmentType: environmentType! }, toPublicId("run", id), {});
        success += 1;
      } catch {
        failure += 1;
      }
    }
    await bulkActionsRecordChunk(tx, action.id, { cursorId: ids.at(-1) ?? null, success, failure, done: ids.length < chunkSize }, deps.clock.now());
    // An action whose last chunk was exactly full finishes with the next, empty, chunk.
    return Math.max(ids.length, 1);
  });
}

/** Works through pending bulk actions on a timer, chunk after chunk while there is work. */
export class BulkActionProcessor {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly #deps: EngineDeps;
  readonly #options: { chunkSize: number; intervalMs: number };
  readonly #logger: Logger;

  constructor(deps: EngineDeps, options: { chunkSize: number; intervalMs: number }, logger: Logger) {
    this.#deps = deps;
    this.#options = options;
    this.#logger = logger;
  }

  start(): void {
    const tick = async () => {
      try {
        while (!this.#stopped && (await processBulkActionChunk(this.#deps, this.#options.chunkSize)) > 0);
      } catch (error) {
        this.#logger.warn({ err: error }, "bulk action chunk failed; retrying next tick");
      }
    };
    const schedule = () => {
      this.#timer = setTimeout(() => {
        this.#running = tick().finally(() => {
          this.#running = null;
          if (!this.#stopped) schedule();
        });
      }, this.#options.intervalMs);
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
