// Restores a checkpoint into a new container: created from the same image and mounts, the CRIU
// image written back from the large object into dockerd's checkpoint directory (dockerd 20.10 has
// no --checkpoint-dir on start), started from it. On success the checkpoint row and its large
// object are deleted; on failure they stay, so the caller can retry or fall back to replay.
import { mkdir } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type Docker from "dockerode";
import { extract as tarExtract } from "tar";
import type { Sql } from "../db/client.ts";
import { checkpointsDelete, checkpointsGet } from "../storage/checkpoints.ts";
import { checkpointDirectory } from "./container-config.ts";
import { type CheckpointingContainer, dockerRoot } from "./checkpoint.ts";
import { largeObjectRead } from "./large-object.ts";

export interface RestoreResult {
  containerId: string;
  /** Resolves with the exit status when the restored container exits. */
  exited: Promise<{ StatusCode: number }>;
  restoreMs: number;
}

export interface RestoreOptions {
  name?: string;
  /** The new container's labels instead of the old one's (the runner that restores it owns it). */
  labels?: Record<string, string>;
  /** Called with the created container before it starts, e.g. to attach to its stdio. */
  beforeStart?: (container: Docker.Container) => Promise<void>;
}

export async function restoreContainer(docker: Docker, sql: Sql, checkpointId: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const row = await checkpointsGet(sql, checkpointId);
  if (!row) throw new Error(`checkpoint ${checkpointId} does not exist`);
  const started = performance.now();
  const config = row.containerConfig as Docker.ContainerCreateOptions;
  const container = await docker.createContainer({
    ...config,
    Image: row.image,
    ...(options.name ? { name: options.name } : {}),
    ...(options.labels ? { Labels: options.labels } : {}),
  });
  try {
    const name = `ratchet-${row.id}`;
    const directory = checkpointDirectory(await dockerRoot(docker), container.id, name);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    await sql.begin(async (tx) => {
      await pipeline(largeObjectRead(tx, row.loOid), tarExtract({ cwd: directory }));
    });
    // `next-exit`: waiting on a created container would answer at once; asked before start so
    // the exit cannot be missed.
    const exited = container.wait({ condition: "next-exit" }) as Promise<{ StatusCode: number }>;
    exited.catch(() => undefined); // a failed start removes the container: not an unhandled rejection
    await options.beforeStart?.(container);
    await (container as unknown as CheckpointingContainer).start({ _query: { checkpoint: name }, _body: {} });
    const restoreMs = performance.now() - started;
    await checkpointsDelete(sql, row.id);
    return { containerId: container.id, exited, restoreMs };
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined);
    throw error;
  }
}
