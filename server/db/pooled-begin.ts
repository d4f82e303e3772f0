// Transactions for a pool that runs through a transaction-mode pooler (PgBouncer) — see docs/scaling.md.
//
// Such a pool must never pipeline: a statement sent on a connection before the previous one's
// ReadyForQuery reaches PgBouncer after it may already have handed the server connection on, so
// the statement's Bind lands on another server connection, binds another client's unnamed
// statement (wrong answers, "malformed array literal") or waits forever. postgres.js stops
// pipelining with `max_pipeline: 0`, but then its own `sql.begin` refuses to run
// (UNSAFE_TRANSACTION: it reserves the connection only on the pipelining path). So the pooled pool
// gets this `begin` instead, built on `sql.reserve()`: one connection, one statement at a time,
// with postgres.js's semantics (options such as an isolation level, savepoints, an array of
// queries awaited together, rollback on any error).
import type postgres from "postgres";

type Sql = postgres.Sql;
type TransactionSql = postgres.TransactionSql;
type Body = (sql: TransactionSql) => unknown;

/** Driver errors that mean the connection itself is gone (postgres.js names them CONNECTION_*). */
function connectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("CONNECTION_") || code === "ECONNRESET" || code === "EPIPE");
}

const settle = (value: unknown) => (Array.isArray(value) ? Promise.all(value) : value);

export function pooledBegin(sql: Sql): Sql["begin"] {
  const begin = async (optionsOrBody: string | Body, maybeBody?: Body) => {
    const [options, body] = typeof optionsOrBody === "function" ? ["", optionsOrBody] : [optionsOrBody, maybeBody];
    if (typeof body !== "function") throw new TypeError("begin needs a function to run in the transaction");
    const reserved = await sql.reserve();
    // A connection that died is already back in the pool's closed set: releasing it would hand a
    // dead socket to the next query.
    let lost = false;
    const run = async <T>(query: Promise<T>): Promise<T> => {
      try {
        return await query;
      } catch (error) {
        if (connectionLost(error)) lost = true;
        throw error;
      }
    };
    let savepoints = 0;
    const transaction = reserved as unknown as TransactionSql;
    const savepoint = async (nameOrBody: string | Body, maybeInner?: Body) => {
      const inner = typeof nameOrBody === "function" ? nameOrBody : maybeInner!;
      const name = `s${savepoints++}${typeof nameOrBody === "string" ? `_${nameOrBody.replace(/[^a-z0-9_]/gi, "")}` : ""}`;
      await run(reserved.unsafe(`savepoint ${name}`));
      try {
        const result = await settle(inner(transaction));
        await run(reserved.unsafe(`release savepoint ${name}`));
        return result;
      } catch (error) {
        if (!lost) await run(reserved.unsafe(`rollback to savepoint ${name}`));
        throw error;
      }
    };
    Object.assign(transaction, { savepoint });
    try {
      await run(reserved.unsafe(`begin ${options.replace(/[^a-z ]/gi, "")}`));
      let result: unknown;
      try {
        result = await settle(body(transaction));
      } catch (error) {
        if (connectionLost(error)) lost = true;
        if (!lost) await run(reserved.unsafe("rollback")).catch(() => {});
        throw error;
      }
      await run(reserved.unsafe("commit"));
      return result;
    } finally {
      if (!lost) reserved.release();
    }
  };
  return begin as Sql["begin"];
}
