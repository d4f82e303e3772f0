// Payloads and outputs are stored as sent with their type; the API hands them back decoded, as
// Trigger.dev's API does (the SDK passes retrieved values straight to the caller).
import superjson from "superjson";
import { jsonDepthBeyond } from "./input-safety.ts";

export function decodePacket(value: unknown, type: string | null): unknown {
  if (value === null || value === undefined) return undefined;
  // Deeper than the API accepts (stored before the limit): kept as text, which every reader can handle.
  if (type === "application/super+json" && typeof value === "string" && jsonDepthBeyond(value) === null) {
    try {
      return superjson.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
