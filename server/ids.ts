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
