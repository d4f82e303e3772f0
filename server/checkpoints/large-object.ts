// Streams bytes into and out of Postgres large objects in fixed chunks, so a checkpoint image is
// never whole in memory. Both run inside the caller's transaction (large object descriptors live
// only as long as one).
import { Readable } from "node:stream";
import type { TransactionSql } from "../db/client.ts";

const chunkBytes = 256 * 1024;
const INV_READ = 0x40000;
const INV_WRITE = 0x20000;

export class LargeObjectLimitError extends Error {}

/**
 * Creates a large object from `source`; returns its oid and the bytes written. `limit` stops the
 * copy once exceeded (the transaction's rollback then removes the partial object).
 */
export async function largeObjectWrite(tx: TransactionSql, source: AsyncIterable<Buffer>, limit: number): Promise<{ oid: number; bytes: number }> {
  const [created] = await tx<{ oid: number }[]>`select pg_catalog.lo_create(0)::int8::float8 as oid`;
  const oid = created!.oid;
  const [opened] = await tx<{ fd: number }[]>`select pg_catalog.lo_open(${oid}, ${INV_WRITE}) as fd`;
  const fd = opened!.fd;
  let bytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    await tx`select pg_catalog.lowrite(${fd}, ${Buffer.concat(pending, pendingBytes)})`;
    pending = [];
    pendingBytes = 0;
  };
  for await (const chunk of source) {
    bytes += chunk.length;
    if (bytes > limit) throw new LargeObjectLimitError(`exceeds ${limit} bytes`);
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= chunkBytes) await flush();
  }
  await flush();
  await tx`select pg_catalog.lo_close(${fd})`;
  return { oid, bytes };
}

/** A stream of the large object's bytes, read chunk by chunk within `tx`. */
export function largeObjectRead(tx: TransactionSql, oid: number): Readable {
  let fd: number | null = null;
  return Readable.from(
    (async function* () {
      const [opened] = await tx<{ fd: number }[]>`select pg_catalog.lo_open(${oid}, ${INV_READ}) as fd`;
      fd = opened!.fd;
      for (;;) {
        const [row] = await tx<{ data: Buffer }[]>`select pg_catalog.loread(${fd}, ${chunkBytes}) as data`;
        if (row!.data.length === 0) break;
        yield row!.data;
      }
      await tx`select pg_catalog.lo_close(${fd})`;
    })(),
    { objectMode: false },
  );
}
