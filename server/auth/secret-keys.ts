// Secret API keys in Trigger.dev's format: tr_dev_…, tr_stg_…, tr_prod_…, tr_preview_… followed by 24
// random letters and digits (about 143 bits). Only a SHA-256 hash is stored: the keys are random,
// so a slow password hash would add latency to every request without adding safety.
import { createHash, timingSafeEqual } from "node:crypto";
import type { EnvironmentType } from "../db/tables.ts";
import { randomAlphanumeric } from "../ids.ts";

export const secretKeyPrefixes: Record<EnvironmentType, string> = {
  dev: "tr_dev_",
  staging: "tr_stg_",
  prod: "tr_prod_",
  preview: "tr_preview_",
};

const secretKeyPattern = /^tr_(dev|stg|prod|preview)_[A-Za-z0-9]{24}$/;

export function generateSecretKey(environment: EnvironmentType): string {
  return `${secretKeyPrefixes[environment]}${randomAlphanumeric(24)}`;
}

export function looksLikeSecretKey(value: string): boolean {
  return secretKeyPattern.test(value);
}

export function hashSecretKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** Enough of a key to recognise it in a list, never enough to use it. */
export function secretKeyHint(key: string): string {
  return `${key.slice(0, key.lastIndexOf("_") + 5)}…`;
}

export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
