// Forward-only migrations: sql/NNNN_name.sql files applied in order, in one transaction under a
// transaction-scoped advisory lock, each recorded in ratchet.migrations. Any number of processes may
// migrate at once: the lock makes them take turns and each migration is applied exactly once.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { packageRoot } from "../package-root.ts";
import type { Sql } from "./client.ts";

export const sqlDir = join(packageRoot, "sql");

/** Advisory lock key for migrations (an arbitrary constant; only Ratchet's migrator takes it). */
const migrationLockKey = 7_245_110_201n;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

export async function loadMigrations(dir = sqlDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const id = Number.parseInt(file.slice(0, 4), 10);
    if (migrations.some((migration) => migration.id === id)) {
      throw new MigrationError(`Two migrations are numbered ${file.slice(0, 4)} in ${dir}`);
    }
    migrations.push({ id, name: file.slice(5, -4), sql: await readFile(join(dir, file), "utf8") });
  }
  return migrations;
}

export interface MigrationState {
  applied: number[];
  pending: number[];
  /** Set when the database holds migrations this version of Ratchet does not know. */
  newer: number[];
}

async function appliedIds(sql: Sql): Promise<number[]> {
  const [exists] = await sql<{ present: boolean }[]>`
    select to_regclass('ratchet.migrations') is not null as present`;
  if (!exists?.present) return [];
  const rows = await sql<{ id: number }[]>`select id from ratchet.migrations order by id`;
  return rows.map((row) => row.id);
}

export async function migrationState(sql: Sql, migrations?: Migration[]): Promise<MigrationState> {
  const known = migrations ?? (await loadMigrations());
  const applied = await appliedIds(sql);
  const knownIds = new Set(known.map((migration) => migration.id));
  const appliedSet = new Set(applied);
  return {
    applied,
    pending: known.filter((migration) => !appliedSet.has(migration.id)).map((migration) => migration.id),
    newer: applied.filter((id) => !knownIds.has(id)),
  };
}

function newerError(newer: number[], known: Migration[]): MigrationError {
  const latestKnown = known.at(-1)?.id ?? 0;
  const pad = (id: number) => String(id).padStart(4, "0");
  return new MigrationError(
    `This database was migrated by a newer version of Ratchet (it has migration ${pad(Math.max(...newer))}; ` +
      `this version knows migrations up to ${pad(latestKnown)}). Upgrade Ratchet, or point DATABASE_URL at another database.`,
  );
}

/** Applies every pending migration; returns the ids it applied (empty when up to date). */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<number[]> {
  const known = migrations ?? (await loadMigrations());
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${migrationLockKey.toString()}::bigint)`;
    await tx`create schema if not exists ratchet`;
    await tx`
      create table if not exists ratchet.migrations (
        id integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`;
    const applied = new Set((await tx<{ id: number }[]>`select id from ratchet.migrations`).map((row) => row.id));
    const newer = [...applied].filter((id) => !known.some((migration) => migration.id === id));
    if (newer.length > 0) throw newerError(newer, known);
    const done: number[] = [];
    for (const migration of known) {
      if (applied.has(migration.id)) continue;
      try {
        await tx.unsafe(migration.sql);
      } catch (error) {
        throw new MigrationError(
          `Migration ${String(migration.id).padStart(4, "0")}_${migration.name} failed: ${(error as Error).message}`,
        );
      }
      await tx`insert into ratchet.migrations (id, name) values (${migration.id}, ${migration.name})`;
      done.push(migration.id);
    }
    return done;
  });
}

/** Throws when the database was migrated by a newer Ratchet; used before anything else touches it. */
export async function assertNotNewer(sql: Sql, migrations?: Migration[]): Promise<void> {
  const known = migrations ?? (await loadMigrations());
  const state = await migrationState(sql, known);
  if (state.newer.length > 0) throw newerError(state.newer, known);
}
