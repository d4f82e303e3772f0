// Where reads go: the read replica (RATCHET_READ_DATABASE_URL, a hot standby) for the dashboard's
// read-only pages and SQL queries while it answers, the primary otherwise. Everything else (writes,
// auth, LISTEN, the engine) never asks this and stays on the primary. docs/scaling.md has the rules.
import type { FastifyRequest } from "fastify";
import { connect, type Db } from "./client.ts";

/** How often the replica is asked whether it is up, and how long it has to answer. */
export const replicaProbeIntervalMs = 2_000;
const replicaProbeTimeoutMs = 2_000;

/**
 * Set on the answer to a dashboard request that changed something: for this long, that browser's
 * reads go to the primary, so it sees its own write at once even while the replica lags behind.
 */
export const freshReadsCookie = "ratchet_fresh";
export const freshReadsSeconds = 10;

export interface ReplicaStatus {
  configured: boolean;
  /** Whether the last probe reached a standby; reads fall back to the primary while it is false. */
  up: boolean;
  /** Bytes of WAL the replica has received but not yet replayed (null when down or unset). */
  replayLagBytes: number | null;
  /** Seconds since the last transaction it replayed was committed on the primary (null when unknown). */
  replayLagSeconds: number | null;
  checkedAt: Date | null;
}

/** Errors that mean the connection or the server is gone, not that the query was wrong. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("08") ||
    code.startsWith("57P") ||
    ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"].includes(code)
  );
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set when this request read from the replica, so a connection error there marks it down. */
    readFromReplica: boolean;
  }
}

export class ReadReplica {
  readonly primary: Db;
  readonly replica: Db | null;
  private status: ReplicaStatus;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<ReplicaStatus> | undefined;

  constructor(primary: Db, url: string | undefined, options: { poolSize?: number } = {}) {
    this.primary = primary;
    this.replica = url === undefined ? null : connect({ url, poolSize: options.poolSize, applicationName: "ratchet-read" });
    // Until the first probe answers, reads stay on the primary: never route to what is not known to be up.
    this.status = { configured: this.replica !== null, up: false, replayLagBytes: null, replayLagSeconds: null, checkedAt: null };
  }

  get current(): ReplicaStatus {
    return this.status;
  }

  /** The database a read that may be a little behind goes to, for this request. */
  for(request: FastifyRequest): Db {
    if (this.replica === null || !this.status.up || request.cookies?.[freshReadsCookie] !== undefined) return this.primary;
    request.readFromReplica = true;
    return this.replica;
  }

  /** Runs a read on the replica when it is up, and once more on the primary if the replica's connection fails. */
  async read<T>(request: FastifyRequest, work: (db: Db) => Promise<T>): Promise<T> {
    const db = this.for(request);
    if (db === this.primary) return work(db);
    try {
      return await work(db);
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      this.markDown();
      request.readFromReplica = false;
      return work(this.primary);
    }
  }

  /** A read on the replica lost its connection: stop sending reads there until a probe says it is back. */
  markDown(): void {
    if (this.replica === null) return;
    this.status = { ...this.status, up: false, replayLagBytes: null, replayLagSeconds: null };
  }

  /** Asks the replica whether it answers and is a standby; one probe at a time. */
  probe(): Promise<ReplicaStatus> {
    if (this.replica === null) return Promise.resolve(this.status);
    this.probing ??= this.probeOnce(this.replica).finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  private async probeOnce(replica: Db): Promise<ReplicaStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error("the read replica did not answer in time")), replicaProbeTimeoutMs);
    });
    try {
      const [row] = await Promise.race([
        replica.sql<{ standby: boolean; lagBytes: string | null; lagSeconds: number | null }[]>`
          select pg_is_in_recovery() as standby,
            pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text as "lagBytes",
            extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as "lagSeconds"`,
        timeout,
      ]);
      // A replica that was promoted is still a correct copy; lag figures only mean something on a standby.
      this.status = {
        configured: true,
        up: true,
        replayLagBytes: row?.standby && row.lagBytes !== null ? Number(row.lagBytes) : null,
        replayLagSeconds: row?.standby && row.lagSeconds !== null ? Math.max(0, row.lagSeconds) : null,
        checkedAt: new Date(),
      };
    } catch {
      this.status = { configured: true, up: false, replayLagBytes: null, replayLagSeconds: null, checkedAt: new Date() };
    } finally {
      clearTimeout(timer);
    }
    return this.status;
  }

  /** Probes now and then every few seconds, so reads return to the replica soon after it is back. */
  async start(): Promise<void> {
    if (this.replica === null || this.timer) return;
    await this.probe();
    this.timer = setInterval(() => void this.probe(), replicaProbeIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.probing?.catch(() => {});
    await this.replica?.close();
  }
}
