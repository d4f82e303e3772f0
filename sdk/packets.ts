// Payloads and outputs of 128 KB and more travel as packets, as with Trigger.dev's SDK: uploaded
// through a presigned URL the server hands out, referred to by their path with the type
// "application/store", and fetched back the same way. See docs/realtime.md.
import { randomBytes } from "node:crypto";
import { apiRequest } from "./api-client.ts";
import type { Packet } from "./serialization.ts";

/** Trigger.dev's threshold: packets this large or larger are offloaded. */
export const offloadThresholdBytes = 128 * 1024;

export const storeType = "application/store";

function extension(dataType: string): string {
  if (dataType === "text/plain") return "txt";
  return "json";
}

/** Returns the packet as is when small, else uploads it and returns a reference to it. */
export async function offloadIfLarge(packet: Packet, pathPrefix: string): Promise<Packet> {
  if (packet.data === undefined || Buffer.byteLength(packet.data, "utf8") < offloadThresholdBytes) return packet;
  const filename = `${pathPrefix}.${extension(packet.dataType)}`;
  const { presignedUrl, storagePath } = await apiRequest<{ presignedUrl: string; storagePath?: string }>(
    "PUT",
    `/api/v2/packets/${encodeURIComponent(filename)}`,
  );
  const response = await fetch(presignedUrl, { method: "PUT", headers: { "content-type": packet.dataType }, body: packet.data });
  if (!response.ok) throw new Error(`Uploading ${filename} failed: ${response.status} ${response.statusText}`);
  return { data: storagePath ?? filename, dataType: storeType };
}

/** A path prefix for a trigger's payload, random as Trigger.dev's SDK makes it. */
export function triggerPayloadPrefix(): string {
  return `trigger/packet_${randomBytes(10).toString("hex")}/payload`;
}

/** Fetches a packet the value refers to; other values come back as they are. */
export async function importIfStored(data: unknown, dataType: string | undefined): Promise<{ data: unknown; dataType: string | undefined }> {
  if (dataType !== storeType || typeof data !== "string") return { data, dataType };
  const { presignedUrl } = await apiRequest<{ presignedUrl: string }>("GET", `/api/v1/packets/${encodeURIComponent(data)}`);
  const response = await fetch(presignedUrl);
  if (!response.ok) throw new Error(`Fetching packet ${data} failed: ${response.status} ${response.statusText}`);
  return { data: await response.text(), dataType: response.headers.get("content-type") ?? "application/json" };
}
