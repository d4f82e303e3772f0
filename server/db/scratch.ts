// Throwaway Postgres databases: for `ratchet db-dump` and the test suite. With an admin URL a
// database is created on that server; without one a temporary embedded cluster is started.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.ts";

/** Ports this process already handed out: the OS may offer a just-closed probe port again. */
const handedOut = new Set<number>();

/** A free loopback port, never the same twice in one process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

async function probePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen({ port: 0, host: "127.0.0.1" }, () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

/** A Postgres server to create scratch databases on: DATABASE_URL's, or a temporary embedded one. */
export interface ScratchServer {
  adminUrl: string;
  /** The same server, another database. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export async function startScratchServer(adminUrl?: string): Promise<ScratchServer> {
  if (adminUrl) {
    return { adminUrl, urlFor: (database) => withDatabase(adminUrl, database), stop: async () => {} };
  }
  const dataDir = join(tmpdir(), `ratchet-scratch-${randomBytes(6).toString("hex")}`);
  let embedded: EmbeddedPostgres;
  try {
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), durability: "fast" });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    adminUrl: embedded.url,
    urlFor: (database) => withDatabase(embedded.url, database),
    async stop() {
      await embedded.stop("immediate");
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const from = template ? ` template ${quoteIdentifier(template)}` : "";
    await admin.unsafe(`create database ${quoteIdentifier(name)}${from}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${quoteIdentifier(name)} with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}
