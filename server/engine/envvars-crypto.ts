// Sealing environment variable values: AES-256-GCM under a master key (RATCHET_ENCRYPTION_KEY), with
// the variable's environment and name as additional data. A keyring holds the current key (which
// seals) and any older keys (which only open), so the key can be rotated without downtime: set the
// new key, list the old one in RATCHET_ENCRYPTION_OLD_KEYS, run `ratchet admin envvars reencrypt`, then
// drop the old key. See docs/envvars.md.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface MasterKey {
  /** A fingerprint of the key (never the key): `k` and 16 hex digits, stored beside each value. */
  id: string;
  key: Buffer;
}

export interface Keyring {
  current: MasterKey;
  /** Every key that may open a value, the current one included, by id. */
  byId: Map<string, MasterKey>;
}

export interface SealedValue {
  keyId: string;
  /** IV (12 bytes), tag (16 bytes), ciphertext. */
  sealed: Buffer;
}

export class KeyringError extends Error {
  override name = "KeyringError";
}

const ivBytes = 12;
const tagBytes = 16;

/** A key as written in configuration: 32 bytes as 64 hex digits or as base64 / base64url. */
export function parseMasterKey(text: string, what = "RATCHET_ENCRYPTION_KEY"): MasterKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && !/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed))) {
    throw new KeyringError(`${what} must be 32 random bytes, as 64 hex digits or base64 (create one with \`openssl rand -base64 32\`)`);
  }
  return { id: `k${createHash("sha256").update(key).digest("hex").slice(0, 16)}`, key };
}

export function createKeyring(current: string, old: string[] = []): Keyring {
  const currentKey = parseMasterKey(current);
  const byId = new Map([[currentKey.id, currentKey]]);
  for (const [index, text] of old.entries()) {
    const key = parseMasterKey(text, `RATCHET_ENCRYPTION_OLD_KEYS[${index}]`);
    byId.set(key.id, key);
  }
  return { current: currentKey, byId };
}

function additionalData(environmentId: string, name: string): Buffer {
  return Buffer.from(`ratchet-envvar:v1:${environmentId}:${name}`);
}

export function sealValue(keyring: Keyring, environmentId: string, name: string, value: string): SealedValue {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv("aes-256-gcm", keyring.current.key, iv);
  cipher.setAAD(additionalData(environmentId, name));
  const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return { keyId: keyring.current.id, sealed: Buffer.concat([iv, cipher.getAuthTag(), ciphertext]) };
}

export function openValue(keyring: Keyring, environmentId: string, name: string, value: SealedValue): string {
  const master = keyring.byId.get(value.keyId);
  if (!master) {
    throw new KeyringError(
      `The value of ${name} was encrypted with key ${value.keyId}, which is not configured: set it as RATCHET_ENCRYPTION_KEY or list it in RATCHET_ENCRYPTION_OLD_KEYS`,
    );
  }
  const decipher = createDecipheriv("aes-256-gcm", master.key, value.sealed.subarray(0, ivBytes));
  decipher.setAAD(additionalData(environmentId, name));
  decipher.setAuthTag(value.sealed.subarray(ivBytes, ivBytes + tagBytes));
  try {
    return Buffer.concat([decipher.update(value.sealed.subarray(ivBytes + tagBytes)), decipher.final()]).toString("utf8");
  } catch {
    throw new KeyringError(`The value of ${name} does not decrypt with key ${value.keyId}: it was altered, or the key is not the one it was sealed with`);
  }
}

/** Where the generated key of a server without RATCHET_ENCRYPTION_KEY is kept. */
export function generatedKeyPath(dataDir: string): string {
  return join(dataDir, "encryption-key");
}

/**
 * The configured keyring, or — when RATCHET_ENCRYPTION_KEY is unset — one made from a key generated
 * once and kept in the data directory (mode 600). `generated` tells the caller to warn: losing that
 * file loses every variable.
 */
export async function loadKeyring(options: { key?: string; oldKeys?: string[]; dataDir: string }): Promise<{ keyring: Keyring; generated: string | null }> {
  if (options.key) return { keyring: createKeyring(options.key, options.oldKeys), generated: null };
  const path = generatedKeyPath(options.dataDir);
  try {
    await mkdir(options.dataDir, { recursive: true });
    await writeFile(path, `${randomBytes(32).toString("base64")}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EROFS" || code === "EPERM") {
      // A container or a read-only install: there is nowhere to keep a generated key, and one that is
      // not kept loses every stored value at the next start.
      throw new KeyringError(
        `RATCHET_ENCRYPTION_KEY is unset and no key can be kept in ${path} (${code}): set RATCHET_ENCRYPTION_KEY to 32 random bytes (\`openssl rand -hex 32\`), or make RATCHET_DATA_DIR writable`,
      );
    }
    if (code !== "EEXIST") throw error;
  }
  return { keyring: createKeyring(await readFile(path, "utf8"), options.oldKeys), generated: path };
}
