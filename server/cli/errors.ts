// Failures the CLI explains in one sentence (with the fix), without a stack trace unless --verbose.

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Something the user can fix outside the command line (server down, key rejected, bad config): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** True for fetch's own failures: nothing answered at that address (refused, unknown host, reset). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}

/** The reason inside a fetch failure, such as ECONNREFUSED. */
export function unreachableReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? "no answer";
}
