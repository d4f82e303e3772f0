// Environment variables of an environment: validated, sealed on the way in, opened for the worker
// and for people allowed to see them. Secret values never leave through the API (Trigger.dev shows
// them as "<redacted>" too); workers get them to inject into attempts.
import { parseEnv } from "node:util";
import type { Db } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import {
  envvarsDelete,
  envvarsFind,
  envvarsList,
  envvarsLockStale,
  envvarsReseal,
  envvarsSnapshot,
  envvarsUpdateValue,
  envvarsUpsert,
  type EnvironmentVariableRow,
} from "../storage/envvars.ts";
import { openValue, sealValue, type Keyring } from "./envvars-crypto.ts";

/** What the API shows for a secret's value, as Trigger.dev does. */
export const redactedValue = "<redacted>";

export const envvarLimits = {
  nameLength: 256,
  valueBytes: 64 * 1024,
  variablesPerEnvironment: 1000,
} as const;

const namePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Set by Ratchet itself for every attempt: a variable may not replace them. */
const reservedNames = new Set(["TRIGGER_API_URL", "TRIGGER_SECRET_KEY", "TRIGGER_ACCESS_TOKEN", "NODE_OPTIONS"]);

export interface EnvironmentVariable {
  name: string;
  value: string;
  isSecret: boolean;
}

export interface VariableInput {
  name: string;
  value: string;
  isSecret?: boolean;
}

export function checkVariableName(name: string, field = "name"): void {
  if (!namePattern.test(name) || name.length > envvarLimits.nameLength) {
    throw new ApiError("VALIDATION_FAILED", `${field}: "${name.slice(0, 80)}" is not a variable name (letters, digits and _, not starting with a digit, at most ${envvarLimits.nameLength})`);
  }
  if (reservedNames.has(name) || name.startsWith("RATCHET_")) {
    throw new ApiError("VALIDATION_FAILED", `${field}: ${name} is set by Ratchet for every attempt and cannot be a variable`);
  }
}

function checkValue(value: string, field: string): void {
  if (value.includes("\u0000")) throw new ApiError("VALIDATION_FAILED", `${field}: a value may not contain NUL characters`);
  if (Buffer.byteLength(value) > envvarLimits.valueBytes) {
    throw new ApiError("PAYLOAD_TOO_LARGE", `${field}: the value is larger than ${envvarLimits.valueBytes / 1024} KiB`);
  }
}

/** A `.env` file's variables (comments, quotes and `export` handled as Node's own loader does). */
export function parseDotenv(text: string): Record<string, string> {
  return parseEnv(text) as Record<string, string>;
}

function open(keyring: Keyring, environmentId: string, row: EnvironmentVariableRow): EnvironmentVariable {
  return { name: row.name, value: openValue(keyring, environmentId, row.name, row), isSecret: row.isSecret };
}

/** For people and the API: secrets redacted. */
export function shownValue(variable: EnvironmentVariable): EnvironmentVariable {
  return variable.isSecret ? { ...variable, value: redactedValue } : variable;
}

export interface EnvvarsDeps {
  db: Db;
  keyring: Keyring;
  now: () => Date;
}

export async function listVariables(deps: EnvvarsDeps, environmentId: string): Promise<EnvironmentVariable[]> {
  const rows = await envvarsList(deps.db.sql, environmentId);
  return rows.map((row) => open(deps.keyring, environmentId, row));
}

export async function findVariable(deps: EnvvarsDeps, environmentId: string, name: string): Promise<EnvironmentVariable> {
  const row = await envvarsFind(deps.db.sql, environmentId, name);
  if (!row) throw new ApiError("NOT_FOUND", `No environment variable ${name}`);
  return open(deps.keyring, environmentId, row);
}

/** Everything a worker injects into an attempt, with the version it is (for If-None-Match). */
export async function variablesForWorker(deps: EnvvarsDeps, environmentId: string): Promise<{ version: number; variables: Record<string, string> }> {
  const snapshot = await envvarsSnapshot(deps.db.sql, environmentId);
  const variables: Record<string, string> = {};
  for (const row of snapshot.variables) variables[row.name] = openValue(deps.keyring, environmentId, row.name, row);
  return { version: snapshot.version, variables };
}

/** Creates or (with override) replaces variables; returns the names written. */
export async function setVariables(
  deps: EnvvarsDeps,
  environmentId: string,
  inputs: VariableInput[],
  options: { override: boolean; field?: string },
): Promise<string[]> {
  const field = options.field ?? "variables";
  const seen = new Set<string>();
  for (const input of inputs) {
    checkVariableName(input.name, `${field}.${input.name.slice(0, 80)}`);
    checkValue(input.value, `${field}.${input.name}`);
    if (seen.has(input.name)) throw new ApiError("VALIDATION_FAILED", `${field}: ${input.name} is given twice`);
    seen.add(input.name);
  }
  const existing = await envvarsList(deps.db.sql, environmentId);
  const names = new Set(existing.map((row) => row.name));
  const added = inputs.filter((input) => !names.has(input.name)).length;
  if (names.size + added > envvarLimits.variablesPerEnvironment) {
    throw new ApiError("UNPROCESSABLE", `An environment has at most ${envvarLimits.variablesPerEnvironment} variables`);
  }
  const sealed = inputs.map((input) => ({
    name: input.name,
    isSecret: input.isSecret ?? false,
    ...sealValue(deps.keyring, environmentId, input.name, input.value),
  }));
  return envvarsUpsert(deps.db.sql, environmentId, sealed, { override: options.override, now: deps.now() });
}

export async function createVariable(deps: EnvvarsDeps, environmentId: string, input: VariableInput): Promise<void> {
  const written = await setVariables(deps, environmentId, [input], { override: false, field: "body" });
  if (written.length === 0) throw new ApiError("CONFLICT", `The environment variable ${input.name} already exists; update it with PUT`);
}

export async function updateVariable(deps: EnvvarsDeps, environmentId: string, name: string, value: string): Promise<void> {
  checkValue(value, "body.value");
  const sealed = sealValue(deps.keyring, environmentId, name, value);
  if (!(await envvarsUpdateValue(deps.db.sql, environmentId, { name, ...sealed }, deps.now()))) {
    throw new ApiError("NOT_FOUND", `No environment variable ${name}`);
  }
}

export async function deleteVariable(deps: EnvvarsDeps, environmentId: string, name: string): Promise<void> {
  if (!(await envvarsDelete(deps.db.sql, environmentId, name))) throw new ApiError("NOT_FOUND", `No environment variable ${name}`);
}

/**
 * Re-seals every value sealed under an older key with the current one, in batches that lock their
 * rows (several servers may run it at once). Returns how many values it re-sealed.
 */
export async function reencryptVariables(db: Db, keyring: Keyring, batchSize = 200): Promise<number> {
  let total = 0;
  for (;;) {
    const count = await db.sql.begin(async (tx) => {
      const stale = await envvarsLockStale(tx, keyring.current.id, batchSize);
      for (const row of stale) {
        const value = openValue(keyring, row.environmentId, row.name, row);
        await envvarsReseal(tx, row.environmentId, row.name, sealValue(keyring, row.environmentId, row.name, value));
      }
      return stale.length;
    });
    total += count;
    if (count < batchSize) return total;
  }
}
