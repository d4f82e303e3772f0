// Identifiers shown to people: a prefix and random lowercase letters and digits.
import { randomBytes } from "node:crypto";

const lowerAlphanumeric = "abcdefghijklmnopqrstuvwxyz0123456789";
const lowerLetters = "abcdefghijklmnopqrstuvwxyz";
const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `length` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias). */
export function randomString(length: number, alphabet: string): string {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

export const randomAlphanumeric = (length: number) => randomString(length, alphanumeric);

/** A project reference as Trigger.dev shapes them: proj_ and twenty lowercase letters. */
export const newProjectRef = () => `proj_${randomString(20, lowerLetters)}`;

export const newApiKeyPublicId = () => `key_${randomString(16, lowerAlphanumeric)}`;

const crockford = "0123456789abcdefghjkmnpqrstvwxyz";

/** A UUIDv7: 48 bits of milliseconds, then random bits, so ids sort by creation time. */
export function uuidv7(at: Date = new Date()): string {
  const bytes = randomBytes(16);
  const ms = BigInt(at.getTime());
  for (let i = 0; i < 6; i += 1) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function uuidToBase32(uuid: string): string {
  let value = BigInt(`0x${uuid.replaceAll("-", "")}`);
  let out = "";
  for (let i = 0; i < 26; i += 1) {
    out = crockford[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

function base32ToUuid(text: string): string | null {
  if (!/^[0-9a-hjkmnp-tv-z]{26}$/.test(text)) return null;
  let value = 0n;
  for (const char of text) value = (value << 5n) | BigInt(crockford.indexOf(char));
  if (value >> 128n !== 0n) return null;
  const hex = value.toString(16).padStart(32, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Public ids: `run_…`, `batch_…`, `wp_…` over a UUID, reversible so lookups use the primary key. */
export type IdPrefix = "run" | "batch" | "wp" | "sched" | "worker" | "bulk" | "deployment" | "query" | "climit";

export function toPublicId(prefix: IdPrefix, uuid: string): string {
  return `${prefix}_${uuidToBase32(uuid)}`;
}

/** The UUID behind a public id, or null when the text is not one of `prefix`'s ids. */
export function fromPublicId(prefix: IdPrefix, publicId: string): string | null {
  if (!publicId.startsWith(`${prefix}_`)) return null;
  return base32ToUuid(publicId.slice(prefix.length + 1));
}
