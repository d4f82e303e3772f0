// A retrieved run whose payload or output is a packet carries presigned GET URLs for them, as
// Trigger.dev's API does: the SDK fetches them and puts the decoded values in place.
import type { Sql } from "../db/client.ts";
import { presignPacket } from "../engine/signing.ts";
import type { RunRow } from "../storage/runs.ts";

export async function withPacketUrls(response: Record<string, unknown>, run: RunRow, sql: Sql, origin: string, now: Date): Promise<Record<string, unknown>> {
  const out = { ...response };
  if (run.payloadType === "application/store" && typeof run.payload === "string") {
    out.payloadPresignedUrl = `${origin}${await presignPacket(sql, "GET", run.environmentId, run.payload, now)}`;
    delete out.payload;
  }
  if (run.outputType === "application/store" && typeof run.output === "string") {
    out.outputPresignedUrl = `${origin}${await presignPacket(sql, "GET", run.environmentId, run.output, now)}`;
    delete out.output;
  }
  return out;
}
