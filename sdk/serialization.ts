// Payloads and outputs travel as superjson text ("application/super+json"), as Trigger.dev's SDK
// sends them, so Dates, Maps, Sets and BigInts survive the trip.
import superjson from "superjson";

export interface Packet {
  data?: string;
  dataType: string;
}

export function stringifyPacket(value: unknown): Packet {
  if (value === undefined) return { dataType: "application/json" };
  if (typeof value === "string") return { data: value, dataType: "text/plain" };
  return { data: superjson.stringify(value), dataType: "application/super+json" };
}

export function parsePacket(data: unknown, dataType: string | undefined): unknown {
  if (data === undefined || data === null) return undefined;
  if (dataType === "application/super+json" && typeof data === "string") return superjson.parse(data);
  if (dataType === "application/json" && typeof data === "string") {
    try {
      return JSON.parse(data);
    } catch {
      return data;
    }
  }
  return data;
}
