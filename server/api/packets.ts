// Payloads and outputs are stored as sent with their type; the API hands them back decoded, as
// Trigger.dev's API does (the SDK passes retrieved values straight to the caller).
import superjson from "superjson";

export function decodePacket(value: unknown, type: string | null): unknown {
  if (value === null || value === undefined) return undefined;
  if (type === "application/super+json" && typeof value === "string") {
    try {
      return superjson.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
