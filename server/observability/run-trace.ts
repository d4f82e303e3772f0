// Loads a run's whole trace (the tree of its root run) for the API and the dashboard.
import type { Db } from "../db/client.ts";
import { tracesFindRoot, tracesListAttempts, tracesListEvents, tracesListJournal, tracesListRuns } from "../storage/traces.ts";
import { assembleTrace, type AssembledTrace } from "./trace-tree.ts";

/** Null when the run is not the environment's. Every read is scoped to the environment. */
export async function loadRunTrace(db: Db, environmentId: string, runId: string, now: Date): Promise<AssembledTrace | null> {
  const rootRunId = await tracesFindRoot(db.sql, environmentId, runId);
  if (rootRunId === null) return null;
  const runs = await tracesListRuns(db.sql, environmentId, rootRunId);
  const runIds = runs.map((run) => run.id);
  const [attempts, journal, events] = await Promise.all([
    tracesListAttempts(db.sql, runIds),
    tracesListJournal(db.sql, runIds),
    tracesListEvents(db.sql, environmentId, runIds),
  ]);
  return assembleTrace(rootRunId, { runs, attempts, journal, events }, now);
}
