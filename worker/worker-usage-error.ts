// A mistake in how `ratchet dev` / `worker` / `runner` was started: the CLI prints its one sentence.
export class WorkerUsageError extends Error {
  override name = "WorkerUsageError";
}
