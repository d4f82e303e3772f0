// Docker reports a failed dump as "criu failed: type NOTIFY errno 0 path= …/criu-dump.log", which
// names no cause. The cause is in that log, as CRIU's last specific "Error (…)" line; the runner
// notes it on the run instead, so the fallback to replay says what CRIU refused.
import { readFile } from "node:fs/promises";

/** CRIU's summary lines, which follow the specific one and say nothing more. */
const generic = /Dumping FAILED|Restoring FAILED|failed with -?\d+\s*$/;

/** The specific error line of a CRIU log's text (its timestamp dropped), or null. */
export function criuErrorLine(log: string): string | null {
  const errors = log
    .split("\n")
    .map((line) => line.replace(/^\(\d+\.\d+\)\s*/, "").trim())
    .filter((line) => line.startsWith("Error (") && !generic.test(line));
  return errors.at(-1) ?? null;
}

/** The CRIU log named in a Docker error message, if any. */
export function criuLogPath(message: string): string | null {
  return /path=\s*(\/\S+\.log)/.exec(message)?.[1] ?? null;
}

/**
 * A clearer error for a dump Docker reported as failed: CRIU's own error line and the log's path.
 * The error as it was when the log is not named or cannot be read (a runner off the Docker host).
 */
export async function explainCriuFailure(error: Error): Promise<Error> {
  const path = criuLogPath(error.message);
  if (!path) return error;
  const line = await readFile(path, "utf8").then(criuErrorLine, () => null);
  if (!line) return error;
  return new Error(`CRIU could not dump the container: ${line} (log: ${path})`, { cause: error });
}
