// Checkpoints a running container with CRIU and moves the image into Postgres: dump
// (--leave-running=false), pack (tar + gzip, streamed), copy into a large object in chunks, record
// the row, remove the container. If storing fails the container is started again from the local
// dump, so the run goes on where it was and nothing is lost; the caller then keeps the slot.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import { create as tarCreate } from "tar";
import type { Sql } from "../db/client.ts";
import { uuidv7 } from "../ids.ts";
import { checkpointsEnvironmentBytes, checkpointsInsert, type CheckpointRow, checkpointsGet } from "../storage/checkpoints.ts";
import { largeObjectWrite, LargeObjectLimitError } from "./large-object.ts";
import { CheckpointLimitError, type CheckpointLimits, defaultCheckpointLimits } from "./limits.ts";
import { containerConfigOf, checkpointDirectory } from "./container-config.ts";
import { explainCriuFailure } from "./criu-log.ts";

export interface CheckpointTarget {
  runId: string;
  environmentId: string;
  attempt: number;
  workerVersion: string | null;
}

export interface CheckpointResult {
  checkpoint: CheckpointRow;
  /** Time spent dumping with CRIU, and storing into Postgres, in ms. */
  dumpMs: number;
  storeMs: number;
}

/** Thrown when the dump could not be stored; `resumedInPlace` says the container runs again. */
export class CheckpointStoreError extends Error {
  readonly resumedInPlace: boolean;
  constructor(message: string, resumedInPlace: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CheckpointStoreError";
    this.resumedInPlace = resumedInPlace;
  }
}

export async function checkpointContainer(
  docker: Docker,
  sql: Sql,
  containerId: string,
  target: CheckpointTarget,
  limits: CheckpointLimits = defaultCheckpointLimits,
): Promise<CheckpointResult> {
  const container = docker.getContainer(containerId) as unknown as CheckpointingContainer;
  const inspect = await container.inspect();
  const used = await checkpointsEnvironmentBytes(sql, target.environmentId);
  if (used >= limits.maxEnvironmentBytes) {
    throw new CheckpointLimitError(`the environment's checkpoints already keep ${used} bytes (cap ${limits.maxEnvironmentBytes})`);
  }
  const id = uuidv7();
  const name = `ratchet-${id}`;
  const started = performance.now();
  // A refused dump leaves the container running; the error then names CRIU's cause (criu-log.ts).
  await container.createCheckpoint({ CheckpointID: name, Exit: true }).catch(async (error: Error) => {
    throw await explainCriuFailure(error);
  });
  const dumpMs = performance.now() - started;
  const directory = checkpointDirectory(await dockerRoot(docker), inspect.Id, name);
  try {
    const sizeRaw = await directoryBytes(directory);
    const storeStarted = performance.now();
    await sql.begin(async (tx) => {
      // One writer per environment at a time, so two checkpoints cannot both fit under the cap.
      await tx`select pg_advisory_xact_lock(hashtextextended(${`checkpoints:${target.environmentId}`}, 0))`;
      const room = limits.maxEnvironmentBytes - (await checkpointsEnvironmentBytes(tx, target.environmentId));
      const limit = Math.min(limits.maxCheckpointBytes, room);
      const entries = await readdir(directory);
      // gzip level 1: less CPU than the default for ~5-10 % more bytes on a runner's 55 MB image (docs/benchmarks.md).
      const packed = tarCreate({ gzip: { level: 1 }, cwd: directory, portable: true }, entries) as unknown as AsyncIterable<Buffer>;
      let written: { oid: number; bytes: number };
      try {
        written = await largeObjectWrite(tx, packed, limit);
      } catch (error) {
        if (!(error instanceof LargeObjectLimitError)) throw error;
        throw new CheckpointLimitError(
          limit === limits.maxCheckpointBytes
            ? `the packed checkpoint exceeds the cap of ${limits.maxCheckpointBytes} bytes per checkpoint`
            : `the checkpoint does not fit in the environment's cap of ${limits.maxEnvironmentBytes} bytes (${room} left)`,
        );
      }
      await checkpointsInsert(tx, {
        id,
        runId: target.runId,
        environmentId: target.environmentId,
        attempt: target.attempt,
        workerVersion: target.workerVersion,
        image: inspect.Config.Image,
        containerConfig: containerConfigOf(inspect),
        sizeRaw,
        sizeStored: written.bytes,
        loOid: written.oid,
      });
    });
    const storeMs = performance.now() - storeStarted;
    await container.remove({ force: true, v: false });
    return { checkpoint: (await checkpointsGet(sql, id))!, dumpMs, storeMs };
  } catch (error) {
    // The process is frozen on disk only: bring it back where it was instead of losing it.
    const resumedInPlace = await container.start({ _query: { checkpoint: name }, _body: {} }).then(
      () => true,
      () => false,
    );
    if (resumedInPlace) await container.deleteCheckpoint(name).catch(() => undefined);
    if (error instanceof CheckpointLimitError) throw error;
    throw new CheckpointStoreError(`storing the checkpoint failed: ${(error as Error).message}`, resumedInPlace, { cause: error });
  }
}

/** The checkpoint calls dockerode has but its type definitions lack. */
export type CheckpointingContainer = Omit<Docker.Container, "start"> & {
  createCheckpoint(options: { CheckpointID: string; Exit: boolean }): Promise<unknown>;
  deleteCheckpoint(name: string): Promise<unknown>;
  // dockerode's start({ checkpoint }) puts it in the body, which the API refuses ("non-empty request
  // body"): the query it must be, and `_body: {}` keeps docker-modem from sending the options too.
  start(options: { _query: { checkpoint: string }; _body: Record<string, never> }): Promise<unknown>;
};

async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

export async function dockerRoot(docker: Docker): Promise<string> {
  return ((await docker.info()) as { DockerRootDir: string }).DockerRootDir;
}
