// Named queries for packets: payloads and outputs too large to travel inline (sql/0015_realtime.sql).
import type { Sql } from "../db/client.ts";

export interface PacketRow {
  contentType: string;
  data: Buffer;
}

/** Stores (or replaces, as a retried upload does) the packet at `path` of the environment. */
export async function packetsPut(sql: Sql, environmentId: string, path: string, contentType: string, data: Buffer, now: Date): Promise<void> {
  await sql`
    insert into ratchet.packets (environment_id, path, content_type, data, created_at)
    values (${environmentId}, ${path}, ${contentType}, ${data}, ${now})
    on conflict (environment_id, path) do update
      set content_type = excluded.content_type, data = excluded.data, created_at = excluded.created_at`;
}

export async function packetsGet(sql: Sql, environmentId: string, path: string): Promise<PacketRow | null> {
  const [row] = await sql<PacketRow[]>`
    select content_type as "contentType", data from ratchet.packets
    where environment_id = ${environmentId} and path = ${path}`;
  return row ?? null;
}

export async function packetsExists(sql: Sql, environmentId: string, path: string): Promise<boolean> {
  const [row] = await sql`select 1 from ratchet.packets where environment_id = ${environmentId} and path = ${path}`;
  return row !== undefined;
}

/** Deletes packets that no run came to refer to within the grace period; returns how many. */
export async function packetsDeleteUnattached(sql: Sql, uploadedBefore: Date): Promise<number> {
  const result = await sql`delete from ratchet.packets where run_id is null and created_at < ${uploadedBefore}`;
  return result.count;
}
