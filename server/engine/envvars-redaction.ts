// Keeps secret values out of what runs write. The server redacts (not the SDK) so that a task which
// skips the SDK and posts to the worker protocol itself cannot store a secret either: every log line,
// span, error and output of a run passes through here before it is stored. Values are cached per
// environment and reloaded when the environment's variable version moves.
import type { Db } from "../db/client.ts";
import { envvarsSnapshot, envvarsVersion } from "../storage/envvars.ts";
import { openValue, type Keyring } from "./envvars-crypto.ts";

/** What a secret value becomes in stored run data. */
export const redactionMark = "[redacted]";

/**
 * Shorter secret values are not redacted: replacing every "1" or "on" in a run's logs would make
 * them unreadable while protecting nothing. docs/envvars.md says so.
 */
export const minimumRedactedLength = 4;

export type Redact = <T>(value: T) => T;

const identity: Redact = (value) => value;

/** Every form a value may take in stored text: as is, and escaped inside a JSON string. */
function formsOf(value: string): string[] {
  const escaped = JSON.stringify(value).slice(1, -1);
  return escaped === value ? [value] : [value, escaped];
}

export function redactorOf(secrets: string[]): Redact {
  const forms = [...new Set(secrets.filter((secret) => secret.length >= minimumRedactedLength).flatMap(formsOf))]
    // Longest first, so a secret that contains another is replaced whole.
    .sort((a, b) => b.length - a.length);
  if (forms.length === 0) return identity;
  const text = (input: string) => {
    let output = input;
    for (const form of forms) if (output.includes(form)) output = output.replaceAll(form, redactionMark);
    return output;
  };
  const deep = (value: unknown): unknown => {
    if (typeof value === "string") return text(value);
    if (Array.isArray(value)) return value.map(deep);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [text(key), deep(item)]));
    }
    return value;
  };
  return <T>(value: T) => deep(value) as T;
}

export class SecretRedactor {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #cache = new Map<string, { version: number; redact: Redact }>();

  constructor(db: Db, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
  }

  /** The redaction for one environment's secrets as they are now (one primary-key read when cached). */
  async forEnvironment(environmentId: string): Promise<Redact> {
    const version = await envvarsVersion(this.#db.sql, environmentId);
    const cached = this.#cache.get(environmentId);
    if (cached && cached.version === version) return cached.redact;
    const snapshot = await envvarsSnapshot(this.#db.sql, environmentId);
    const secrets = snapshot.variables
      .filter((row) => row.isSecret)
      .map((row) => openValue(this.#keyring, environmentId, row.name, row));
    const redact = redactorOf(secrets);
    this.#cache.set(environmentId, { version: snapshot.version, redact });
    return redact;
  }
}
