// What secret keys resolve to, kept per server process so that a request does not look its key up
// in Postgres every time. Every change that could alter an answer (a key revoked, an environment,
// project or organization changed) notifies `ratchet_api_keys` in its own transaction
// (sql/0026_api_key_cache_invalidation.sql), and every server drops its cache as the notification
// arrives; keys revoked by this process drop it at once. The cache is only used while its LISTEN
// is in place, and an entry lives at most `ttlMs` in any case, for a notification that never came
// (the LISTEN connection down and not noticed yet).
import type { Sql } from "../db/client.ts";
import { onApiKeysRevokedHere, type AuthenticatedEnvironment } from "../storage/api-keys.ts";

const channel = "ratchet_api_keys";

interface Entry {
  environment: AuthenticatedEnvironment;
  until: number;
}

export class ApiKeyCache {
  readonly #listener: Sql;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Key id → hash (hex) of the entries above. */
  readonly #byKeyId = new Map<string, string>();
  /** Bumped by every invalidation: a lookup that raced one does not store its stale answer. */
  #generation = 0;
  #listening = false;
  #unlisten: (() => Promise<void>) | null = null;
  #unsubscribeLocal: (() => void) | null = null;
  #stopped = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(listener: Sql, options: { ttlMs?: number } = {}) {
    this.#listener = listener;
    this.#ttlMs = options.ttlMs ?? 10_000;
  }

  /** Listens for invalidations; until that is in place nothing is cached. A LISTEN that fails is retried. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#unsubscribeLocal = onApiKeysRevokedHere(() => this.invalidate());
    await this.#listen();
  }

  async #listen(): Promise<void> {
    try {
      // Called again each time postgres.js re-establishes the LISTEN: what was missed meanwhile is dropped.
      const subscription = await this.#listener.listen(channel, () => this.invalidate(), () => {
        this.invalidate();
        this.#listening = !this.#stopped;
      });
      if (this.#stopped) {
        await subscription.unlisten().catch(() => {});
        return;
      }
      this.#unlisten = () => subscription.unlisten();
    } catch {
      this.#listening = false;
      if (this.#stopped) return;
      this.#retry = setTimeout(() => void this.#listen(), 2_000);
      this.#retry.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listening = false;
    if (this.#retry) clearTimeout(this.#retry);
    this.#unsubscribeLocal?.();
    this.invalidate();
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  /** The cached answer for a key's hash (hex), if there is a fresh one. */
  get(hashHex: string): AuthenticatedEnvironment | undefined {
    if (!this.#listening) return undefined;
    const entry = this.#entries.get(hashHex);
    if (!entry) return undefined;
    if (Date.now() >= entry.until) {
      this.#entries.delete(hashHex);
      this.#byKeyId.delete(entry.environment.apiKeyId);
      return undefined;
    }
    return entry.environment;
  }

  /** Take before looking a key up; pass to `set` with the answer. */
  get generation(): number {
    return this.#generation;
  }

  set(hashHex: string, environment: AuthenticatedEnvironment, generation: number): void {
    if (!this.#listening || generation !== this.#generation) return;
    // Bounded: a flood of distinct valid keys only evicts the oldest.
    if (this.#entries.size >= 10_000) {
      const [oldest, entry] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      this.#byKeyId.delete(entry.environment.apiKeyId);
    }
    this.#entries.set(hashHex, { environment, until: Date.now() + this.#ttlMs });
    this.#byKeyId.set(environment.apiKeyId, hashHex);
  }

  /** Whether a key accepted earlier still has a fresh cached answer (no revocation since). */
  holds(apiKeyId: string, environmentId: string): boolean {
    const hashHex = this.#byKeyId.get(apiKeyId);
    const environment = hashHex === undefined ? undefined : this.get(hashHex);
    return environment?.apiKeyId === apiKeyId && environment.environmentId === environmentId;
  }

  invalidate(): void {
    this.#generation += 1;
    this.#entries.clear();
    this.#byKeyId.clear();
  }
}
