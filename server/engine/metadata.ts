// Run metadata operations as the SDK flushes them (set, delete, append, remove, increment, update),
// applied to a plain JSON object. Keys are top-level names or "$.a.b" paths. Applying them to a
// stored run (under its row lock) is updateRunMetadata in run-actions.ts.
import { ApiError } from "../errors.ts";

export type MetadataOperation =
  | { type: "update"; value: Record<string, unknown> }
  | { type: "set"; key: string; value: unknown }
  | { type: "delete"; key: string }
  | { type: "append"; key: string; value: unknown }
  | { type: "remove"; key: string; value: unknown }
  | { type: "increment"; key: string; value: number };

const forbidden = new Set(["__proto__", "constructor", "prototype"]);

function pathOf(key: string, field: string): string[] {
  const parts = key.startsWith("$.") ? key.slice(2).split(".") : [key];
  if (parts.some((part) => part === "" || forbidden.has(part))) {
    throw new ApiError("VALIDATION_FAILED", `${field}: invalid metadata key "${key}"`);
  }
  return parts;
}

function parentOf(root: Record<string, unknown>, path: string[], create: boolean): Record<string, unknown> | null {
  let node = root;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) {
      if (!create) return null;
      node[part] = {};
    }
    node = node[part] as Record<string, unknown>;
  }
  return node;
}

/** `field` names the operations in a 400 for a bad key (every key is checked, even on an empty object). */
export function applyMetadataOperations(
  current: Record<string, unknown>,
  operations: MetadataOperation[],
  field = "body.operations",
): Record<string, unknown> {
  let result = structuredClone(current);
  for (const operation of operations) {
    // "update" replaces the whole object, as in Trigger.dev (the SDK's metadata.replace sends it).
    if (operation.type === "update") {
      result = structuredClone(operation.value);
      continue;
    }
    const path = pathOf(operation.key, field);
    const leaf = path.at(-1)!;
    const parent = parentOf(result, path, operation.type !== "delete" && operation.type !== "remove");
    if (!parent) continue;
    switch (operation.type) {
      case "set":
        parent[leaf] = operation.value;
        break;
      case "delete":
        delete parent[leaf];
        break;
      case "append": {
        const existing = parent[leaf];
        parent[leaf] = Array.isArray(existing) ? [...existing, operation.value] : existing === undefined ? [operation.value] : [existing, operation.value];
        break;
      }
      case "remove": {
        const existing = parent[leaf];
        if (Array.isArray(existing)) {
          const target = JSON.stringify(operation.value);
          parent[leaf] = existing.filter((item) => JSON.stringify(item) !== target);
        }
        break;
      }
      case "increment": {
        const existing = parent[leaf];
        parent[leaf] = (typeof existing === "number" ? existing : 0) + operation.value;
        break;
      }
    }
  }
  return result;
}
