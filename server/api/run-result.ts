// A finished run as the SDK's TaskRunExecutionResult: ok with its output (serialized, as packets are)
// or not ok with its error. Unfinished runs have none. GET /api/v1/runs/{id}/result and
// GET /api/v1/batches/{id}/results answer with it.
import { toPublicId } from "../ids.ts";
import type { RunRow } from "../storage/runs.ts";

const failedStatuses = new Set(["CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"]);

export function runExecutionResult(run: RunRow): Record<string, unknown> | null {
  const id = toPublicId("run", run.id);
  if (run.status === "COMPLETED") {
    const output =
      run.output === null || run.output === undefined
        ? undefined
        : run.outputType === "application/super+json" && typeof run.output === "string"
          ? run.output
          : JSON.stringify(run.output);
    return { ok: true, id, output, outputType: run.outputType ?? "application/json", taskIdentifier: run.taskIdentifier };
  }
  if (failedStatuses.has(run.status)) {
    const stored = (run.error ?? { message: run.status }) as Record<string, unknown>;
    const error =
      stored.type === "BUILT_IN_ERROR"
        ? { type: "BUILT_IN_ERROR", name: String(stored.name ?? "Error"), message: String(stored.message ?? ""), stackTrace: String(stored.stackTrace ?? "") }
        : { type: "STRING_ERROR", raw: String(stored.message ?? stored.raw ?? run.status) };
    return { ok: false, id, error, taskIdentifier: run.taskIdentifier };
  }
  return null;
}
