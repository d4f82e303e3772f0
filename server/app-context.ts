// What every route module is handed: the shared services of one running server.
import type { ApiKeyCache } from "./auth/api-key-cache.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";
import type { ReadReplica } from "./db/read-replica.ts";
import type { QueueNotifier } from "./engine/notifier.ts";
import type { EngineSettings } from "./engine/settings.ts";
import type { EngineDeps } from "./engine/trigger.ts";
import type { Keyring } from "./engine/envvars-crypto.ts";
import type { SecretRedactor } from "./engine/envvars-redaction.ts";
import type { AlertDeps, AlertDispatcher } from "./engine/alerts.ts";
import type { RunMetrics } from "./observability/run-metrics.ts";

export interface AppContext {
  config: Config;
  db: Db;
  /** Where the dashboard's read-only pages and SQL queries read: the replica when set and up, else `db`. */
  reads: ReadReplica;
  clock: Clock;
  notifier: QueueNotifier;
  engine: EngineDeps;
  settings: EngineSettings;
  metrics: RunMetrics;
  /** Aborted when the server starts closing: long-polls answer at once so shutdown is not held up. */
  closing: AbortSignal;
  /** Seals and opens environment variables (docs/envvars.md). */
  keyring: Keyring;
  /** Removes secret values from what runs write, before it is stored. */
  redactor: SecretRedactor;
  alertDeps: AlertDeps;
  /** Delivers alerts; started with the sweepers (tests call runOnce with their clock). */
  alerts: AlertDispatcher;
  /** What secret keys resolve to, dropped whenever any server hears of a change. */
  apiKeys: ApiKeyCache;
}
