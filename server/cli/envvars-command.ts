// `ratchet admin envvars reencrypt`: after a key rotation (new RATCHET_ENCRYPTION_KEY, the old one listed in
// RATCHET_ENCRYPTION_OLD_KEYS), re-seal every value with the new key so the old one can be dropped.
import { pino } from "pino";
import type { Config } from "../config.ts";
import { withDatabase } from "../database.ts";
import { loadKeyring } from "../engine/envvars-crypto.ts";
import { reencryptVariables } from "../engine/envvars.ts";
import { envvarsCountByKey } from "../storage/envvars.ts";
import { UsageError } from "./errors.ts";

export async function envvarsCommand(config: Config, args: string[]): Promise<number> {
  if (args[0] !== "reencrypt") throw new UsageError("Usage: ratchet admin envvars reencrypt");
  const logger = pino({ level: "warn" }, pino.destination(2));
  const { keyring } = await loadKeyring({ key: config.encryptionKey, oldKeys: config.encryptionOldKeys, dataDir: config.dataDir });
  const { count, remaining } = await withDatabase(config, logger, async (db) => ({
    count: await reencryptVariables(db, keyring),
    remaining: (await envvarsCountByKey(db.sql)).filter((row) => row.keyId !== keyring.current.id),
  }));
  console.error(`Re-encrypted ${count} values with key ${keyring.current.id}.`);
  if (remaining.length > 0) {
    console.error(`Still under other keys: ${remaining.map((row) => `${row.keyId} (${row.count})`).join(", ")}`);
    return 1;
  }
  console.error("No value needs the old keys any more: remove them from RATCHET_ENCRYPTION_OLD_KEYS.");
  return 0;
}
