// Server configuration: read once from environment variables, validated with zod, defaults in one
// object. Every option is documented in docs/operations.md with its default.
import { isIP } from "node:net";
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";

/** Every server variable with its default. `null` means "unset unless given". */
export const configDefaults = {
  PORT: 3030,
  HOST: "127.0.0.1",
  DATABASE_URL: null as string | null,
  RATCHET_DIRECT_DATABASE_URL: null as string | null,
  RATCHET_READ_DATABASE_URL: null as string | null,
  RATCHET_DATA_DIR: ".ratchet",
  RATCHET_PUBLIC_URL: null as string | null,
  RATCHET_LOG_LEVEL: "info",
  RATCHET_EMBEDDED_PG_PORT: 54320,
  RATCHET_DB_POOL_SIZE: 10,
  RATCHET_SHUTDOWN_TIMEOUT_MS: 10_000,
  RATCHET_EVENTS_RETENTION_DAYS: 30,
  RATCHET_STREAMS_RETENTION_DAYS: 30,
  RATCHET_RUN_RETENTION_DAYS: 0,
  RATCHET_LEASE_SECONDS: 60,
  RATCHET_WORKER_LOST_GRACE_SECONDS: 5,
  RATCHET_ENCRYPTION_KEY: null as string | null,
  RATCHET_ENCRYPTION_OLD_KEYS: null as string | null,
  RATCHET_SMTP_URL: null as string | null,
  RATCHET_EMAIL_FROM: "Ratchet <ratchet@localhost>",
  RATCHET_OIDC_ISSUER: null as string | null,
  RATCHET_OIDC_CLIENT_ID: null as string | null,
  RATCHET_OIDC_CLIENT_SECRET: null as string | null,
  RATCHET_OIDC_LABEL: "single sign-on",
  RATCHET_CORS_ORIGINS: "*",
  RATCHET_METRICS_TOKEN: null as string | null,
  RATCHET_TRUST_PROXY: "false",
  RATCHET_OTLP_ENDPOINT: null as string | null,
  RATCHET_OTLP_HEADERS: null as string | null,
} as const;

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const port = z.coerce.number().int().min(1).max(65_535);

const configSchema = z.object({
  PORT: port.default(configDefaults.PORT),
  HOST: z.string().min(1).default(configDefaults.HOST),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  RATCHET_DIRECT_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  RATCHET_READ_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  RATCHET_DATA_DIR: z.string().min(1).default(configDefaults.RATCHET_DATA_DIR),
  RATCHET_PUBLIC_URL: z.url().optional(),
  RATCHET_LOG_LEVEL: z.enum(logLevels).default("info"),
  RATCHET_EMBEDDED_PG_PORT: port.default(configDefaults.RATCHET_EMBEDDED_PG_PORT),
  RATCHET_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(configDefaults.RATCHET_DB_POOL_SIZE),
  RATCHET_SHUTDOWN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(configDefaults.RATCHET_SHUTDOWN_TIMEOUT_MS),
  RATCHET_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(configDefaults.RATCHET_LEASE_SECONDS),
  RATCHET_WORKER_LOST_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(configDefaults.RATCHET_WORKER_LOST_GRACE_SECONDS),
  RATCHET_CORS_ORIGINS: z
    .string()
    .transform((value) => value.split(",").map((origin) => origin.trim()).filter(Boolean))
    .pipe(z.array(z.union([z.literal("*"), z.url().regex(/^https?:\/\/[^/]+$/, "an origin is scheme://host[:port], without a path")])).min(1))
    .default([configDefaults.RATCHET_CORS_ORIGINS]),
  RATCHET_EVENTS_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(configDefaults.RATCHET_EVENTS_RETENTION_DAYS),
  RATCHET_STREAMS_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(configDefaults.RATCHET_STREAMS_RETENTION_DAYS),
  RATCHET_RUN_RETENTION_DAYS: z.coerce.number().int().min(0).max(36500).default(configDefaults.RATCHET_RUN_RETENTION_DAYS),
  // Checked for shape when the keyring is made (engine/envvars-crypto.ts), with a precise message.
  RATCHET_ENCRYPTION_KEY: z.string().min(1).optional(),
  RATCHET_ENCRYPTION_OLD_KEYS: z.string().min(1).optional(),
  RATCHET_SMTP_URL: z.string().regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL").optional(),
  RATCHET_EMAIL_FROM: z.string().min(3).max(320).default(configDefaults.RATCHET_EMAIL_FROM),
  RATCHET_OIDC_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  RATCHET_OIDC_CLIENT_ID: z.string().min(1).max(500).optional(),
  RATCHET_OIDC_CLIENT_SECRET: z.string().min(1).max(2000).optional(),
  RATCHET_OIDC_LABEL: z.string().min(1).max(100).default(configDefaults.RATCHET_OIDC_LABEL),
  RATCHET_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").max(512).optional(),
  RATCHET_TRUST_PROXY: z
    .string()
    .transform((value, context) => {
      const parsed = parseTrustProxy(value);
      if (typeof parsed === "string") {
        context.addIssue({ code: "custom", message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .default(false),
  RATCHET_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  RATCHET_OTLP_HEADERS: z.string().max(8192).regex(/^\s*([^=,\s]+\s*=[^,]*)(,\s*[^=,\s]+\s*=[^,]*)*\s*$/, "must be name=value pairs separated by commas").optional(),
});

/**
 * Variables with the RATCHET_ prefix that belong to other parts of Ratchet (the SDK and the worker),
 * so a shell that sets them for those is not reported as misspelt server configuration.
 */
const otherComponentsVariables = new Set([
  "RATCHET_API_URL",
  "RATCHET_ACCESS_TOKEN",
  "RATCHET_FORWARDED_SIGNAL",
  "RATCHET_SECRET_KEY",
  "RATCHET_PROJECT_REF",
  "RATCHET_TEST_ADMIN_URL",
  "RATCHET_TEST_TEMPLATE",
]);

export interface Config {
  port: number;
  host: string;
  /** Set when an external Postgres is used; unset means the embedded Postgres under `dataDir`. */
  databaseUrl: string | undefined;
  /** A direct URL of the same database when DATABASE_URL is a transaction-mode pooler (docs/scaling.md). */
  directDatabaseUrl: string | undefined;
  /** A read replica (hot standby) of the database for the dashboard's pages and SQL queries (docs/scaling.md). */
  readDatabaseUrl: string | undefined;
  dataDir: string;
  publicUrl: string;
  logLevel: (typeof logLevels)[number];
  embeddedPgPort: number;
  dbPoolSize: number;
  shutdownTimeoutMs: number;
  /** Days of run events (logs and spans) kept; older day partitions are dropped. */
  eventsRetentionDays: number;
  /** Days of stream chunks kept, by the day their stream started (docs/realtime.md). */
  streamsRetentionDays: number;
  /** Days finished runs are kept where an environment sets none; 0 keeps them forever. */
  runRetentionDays: number;
  /** How long a worker's claim on a run lasts without a heartbeat. */
  leaseSeconds: number;
  /** How long after a worker's heartbeat connection drops, without a new heartbeat, its attempts fail. */
  workerLostGraceSeconds: number;
  /** Seals environment variables; unset means a key generated into `dataDir` (docs/envvars.md). */
  encryptionKey: string | undefined;
  /** Older keys that still open values sealed before a rotation. */
  encryptionOldKeys: string[];
  /** Where alert and invitation emails go out; unset means no email. */
  smtpUrl: string | undefined;
  emailFrom: string;
  /** Single sign-on through OpenID Connect; null when off (the default). */
  oidc: { issuer: string; clientId: string; clientSecret: string | undefined; label: string } | null;
  /** Browser origins allowed to call the API and realtime routes ("*": any; no cookies are used there). */
  corsOrigins: string[];
  /** Bearer token that opens /metrics to non-loopback scrapers; unset means loopback only. */
  metricsToken: string | undefined;
  /** An OTLP/HTTP collector that run spans are exported to (docs/tracing.md); null when off. */
  otlpExport: { endpoint: string; headers: Record<string, string> } | null;
  /**
   * Which peers' X-Forwarded-For to believe for the client address (sign-in rate limits):
   * false (the default: the socket's address), true (any), a hop count, or addresses/CIDRs.
   */
  trustProxy: TrustProxy;
}

export type TrustProxy = boolean | number | string[];

const proxyAddressNames = new Set(["loopback", "linklocal", "uniquelocal"]);

/** The trust-proxy setting, or a message saying what is wrong with it. */
export function parseTrustProxy(raw: string): TrustProxy | string {
  const value = raw.trim();
  if (value === "false" || value === "") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return hops >= 1 && hops <= 10 ? hops : "a hop count is between 1 and 10";
  }
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    if (proxyAddressNames.has(entry)) continue;
    const [address, bits, extra] = entry.split("/");
    const family = isIP(address ?? "");
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || extra !== undefined) {
      return `"${entry}" is not an IP address, a CIDR range, or one of loopback, linklocal, uniquelocal`;
    }
  }
  return entries;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates the environment once. Throws a ConfigError listing every problem found. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const known = new Set(Object.keys(configDefaults));
  for (const name of Object.keys(env)) {
    if (!name.startsWith("RATCHET_") || known.has(name) || otherComponentsVariables.has(name)) continue;
    const candidates = [...known, ...otherComponentsVariables];
    const suggestion = closest(name, candidates);
    const hint = distance(name, suggestion) <= 4 ? `; did you mean ${suggestion}?` : "";
    problems.push(`${name} is not a Ratchet setting${hint}`);
  }

  const input: Record<string, string> = {};
  for (const name of known) {
    const value = env[name];
    if (value !== undefined && value !== "") input[name] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join(".")}: ${issue.message}`);
    }
  }
  if (parsed.success && (parsed.data.RATCHET_OIDC_ISSUER === undefined) !== (parsed.data.RATCHET_OIDC_CLIENT_ID === undefined)) {
    problems.push("RATCHET_OIDC_ISSUER and RATCHET_OIDC_CLIENT_ID are set together (single sign-on needs both)");
  }
  if (parsed.success && parsed.data.RATCHET_DIRECT_DATABASE_URL !== undefined && parsed.data.DATABASE_URL === undefined) {
    problems.push("RATCHET_DIRECT_DATABASE_URL is set only with DATABASE_URL (it is the direct way to the same database)");
  }
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }

  const values = parsed.data;
  const shownHost = values.HOST === "0.0.0.0" || values.HOST === "::" ? "localhost" : values.HOST;
  return {
    port: values.PORT,
    host: values.HOST,
    databaseUrl: values.DATABASE_URL,
    directDatabaseUrl: values.RATCHET_DIRECT_DATABASE_URL,
    readDatabaseUrl: values.RATCHET_READ_DATABASE_URL,
    dataDir: values.RATCHET_DATA_DIR,
    publicUrl: (values.RATCHET_PUBLIC_URL ?? `http://${shownHost}:${values.PORT}`).replace(/\/$/, ""),
    logLevel: values.RATCHET_LOG_LEVEL,
    embeddedPgPort: values.RATCHET_EMBEDDED_PG_PORT,
    dbPoolSize: values.RATCHET_DB_POOL_SIZE,
    shutdownTimeoutMs: values.RATCHET_SHUTDOWN_TIMEOUT_MS,
    eventsRetentionDays: values.RATCHET_EVENTS_RETENTION_DAYS,
    streamsRetentionDays: values.RATCHET_STREAMS_RETENTION_DAYS,
    runRetentionDays: values.RATCHET_RUN_RETENTION_DAYS,
    leaseSeconds: values.RATCHET_LEASE_SECONDS,
    workerLostGraceSeconds: values.RATCHET_WORKER_LOST_GRACE_SECONDS,
    encryptionKey: values.RATCHET_ENCRYPTION_KEY,
    encryptionOldKeys: (values.RATCHET_ENCRYPTION_OLD_KEYS ?? "").split(",").map((key) => key.trim()).filter(Boolean),
    smtpUrl: values.RATCHET_SMTP_URL,
    emailFrom: values.RATCHET_EMAIL_FROM,
    oidc:
      values.RATCHET_OIDC_ISSUER && values.RATCHET_OIDC_CLIENT_ID
        ? { issuer: values.RATCHET_OIDC_ISSUER, clientId: values.RATCHET_OIDC_CLIENT_ID, clientSecret: values.RATCHET_OIDC_CLIENT_SECRET, label: values.RATCHET_OIDC_LABEL }
        : null,
    corsOrigins: values.RATCHET_CORS_ORIGINS,
    metricsToken: values.RATCHET_METRICS_TOKEN,
    trustProxy: values.RATCHET_TRUST_PROXY,
    otlpExport: values.RATCHET_OTLP_ENDPOINT
      ? {
          endpoint: values.RATCHET_OTLP_ENDPOINT,
          headers: Object.fromEntries(
            (values.RATCHET_OTLP_HEADERS ?? "")
              .split(",")
              .filter((pair) => pair.includes("="))
              .map((pair) => [pair.slice(0, pair.indexOf("=")).trim(), decodeURIComponent(pair.slice(pair.indexOf("=") + 1).trim())]),
          ),
        }
      : null,
  };
}
