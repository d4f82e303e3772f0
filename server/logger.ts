// Structured JSON logs (pino). Credentials are redacted wherever they could appear.
import { pino, type Logger } from "pino";

export const redactedPaths = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "headers.cookie",
  "*.password",
  "*.secretKey",
  "*.databaseUrl",
  "*.directDatabaseUrl",
  "*.readDatabaseUrl",
  "password",
  "secretKey",
  "databaseUrl",
  "directDatabaseUrl",
  "readDatabaseUrl",
];

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "ratchet" },
    redact: { paths: redactedPaths, censor: "[redacted]" },
  });
}
