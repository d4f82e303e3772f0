// Checkpoint and restore in the Docker runner (docs/checkpoints.md). When an attempt's process asks
// for a checkpoint (it waits long), the runner dumps its container with CRIU into Postgres, tells the
// server the run is suspended with that checkpoint (the slot is free), and the attempt ends
// "suspended". When the run resumes, a runner (this one, another, after a restart) restores the
// checkpoint into a new container and the same process goes on from its wait. Whatever fails falls
// back to replay suspension, with the reason noted on the attempt: nothing is lost either way.
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { apiRequest } from "../../sdk/api-client.ts";
import type { RunEvent } from "../../sdk/runtime.ts";
import { checkpointContainer, CheckpointStoreError } from "../../server/checkpoints/checkpoint.ts";
import { criuAvailable } from "../../server/checkpoints/criu.ts";
import { CheckpointLimitError, checkpointLimitsFromEnv, type CheckpointLimits } from "../../server/checkpoints/limits.ts";
import { restoreContainer } from "../../server/checkpoints/restore.ts";
import { checkpointableSeccomp } from "../../server/checkpoints/seccomp.ts";
import { criuCannotDumpUser } from "../../server/checkpoints/task-user.ts";
import { connect, type Db } from "../../server/db/client.ts";
import { fromPublicId } from "../../server/ids.ts";
import { attemptsNoteCheckpointFallback, checkpointsDelete } from "../../server/storage/checkpoints.ts";
import type { ExecuteMessage, FromChild, ToChild } from "../messages.ts";
import type { AttemptOutcome } from "../runner.ts";
import { encodeChannelLine, readChannelLines } from "../stdio-channel.ts";

const defaultThresholdMs = 10_000;

/** What the Docker runner's attempt hands over when its process asks for a checkpoint. */
export interface AttemptHandover {
  container: Docker.Container;
  stdin: NodeJS.WritableStream;
  /** The container's exit, as the attempt waits for it. */
  exited: Promise<number | null>;
  /** Routes the attempt's further replies here instead of the attempt's own handling. */
  tap(handler: (reply: FromChild) => void): void;
}

/** The attempt as the checkpoint code drives it: where its replies go, what container it is in. */
export interface AttemptHandle {
  message: ExecuteMessage;
  onEvents: (events: RunEvent[]) => void;
  /** Labels for a restored container (this runner's, the run's). */
  labels: Record<string, string>;
  /** The attempt runs in this container now (stop and cancel act on it). */
  bind(container: Docker.Container, stdin: NodeJS.WritableStream): void;
  log(line: string): void;
}

type SegmentEvent = { kind: "reply"; reply: FromChild } | { kind: "exit"; code: number | null };

/** One container's life within an attempt: its replies and its exit, in order. */
class Segment {
  readonly container: Docker.Container;
  readonly stdin: NodeJS.WritableStream;
  readonly #queue: SegmentEvent[] = [];
  #waiter: ((event: SegmentEvent) => void) | null = null;

  constructor(container: Docker.Container, stdin: NodeJS.WritableStream) {
    this.container = container;
    this.stdin = stdin;
  }

  push(event: SegmentEvent): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter) waiter(event);
    else this.#queue.push(event);
  }

  next(): Promise<SegmentEvent> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  write(message: ToChild): void {
    this.stdin.write(encodeChannelLine(message));
  }

  /** Attaches to a container (before it starts, or to one already running) and watches its exit. */
  static async attach(container: Docker.Container, handle: AttemptHandle): Promise<Segment> {
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const segment = new Segment(container, stream);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    container.modem.demuxStream(stream, stdout, stderr);
    readChannelLines<FromChild>(stdout, (reply) => segment.#reply(reply, handle), () => {}, handle.log);
    readChannelLines<never>(stderr, () => {}, () => {}, handle.log);
    container.wait({ condition: "next-exit" }).then(
      (status: { StatusCode: number }) => segment.push({ kind: "exit", code: status.StatusCode }),
      () => segment.push({ kind: "exit", code: null }),
    );
    return segment;
  }

  static adopt(handover: AttemptHandover, handle: AttemptHandle): Segment {
    const segment = new Segment(handover.container, handover.stdin);
    handover.tap((reply) => segment.#reply(reply, handle));
    void handover.exited.then((code) => segment.push({ kind: "exit", code }));
    return segment;
  }

  #reply(reply: FromChild, handle: AttemptHandle): void {
    if (reply.type === "events") handle.onEvents(reply.events);
    else this.push({ kind: "reply", reply });
  }
}

type Availability = { ok: true; db: Db } | { ok: false; reason: string };

export class DockerCheckpoints {
  readonly #docker: Docker;
  readonly #availability: Availability;
  readonly #afterMs: number;
  readonly #limits: CheckpointLimits;

  private constructor(docker: Docker, availability: Availability, afterMs: number, limits: CheckpointLimits) {
    this.#docker = docker;
    this.#availability = availability;
    this.#afterMs = afterMs;
    this.#limits = limits;
  }

  /** Once per worker process: CRIU is checked and the database connected once. `user`: the containers' user. */
  static forProcess(docker: Docker, env: NodeJS.ProcessEnv, user: string): Promise<DockerCheckpoints> {
    processCheckpoints ??= DockerCheckpoints.#create(docker, env, user);
    return processCheckpoints;
  }

  static async #create(docker: Docker, env: NodeJS.ProcessEnv, user: string): Promise<DockerCheckpoints> {
    const afterMs = env.RATCHET_CHECKPOINT_THRESHOLD_MS === undefined ? defaultThresholdMs : Number(env.RATCHET_CHECKPOINT_THRESHOLD_MS);
    if (!Number.isInteger(afterMs) || afterMs < 0) throw new Error(`RATCHET_CHECKPOINT_THRESHOLD_MS must be a whole number of ms, not "${env.RATCHET_CHECKPOINT_THRESHOLD_MS}"`);
    const limits = checkpointLimitsFromEnv(env);
    const availability = await (async (): Promise<Availability> => {
      if (env.RATCHET_CHECKPOINTS === "off") return { ok: false, reason: "checkpoints are off on this runner (RATCHET_CHECKPOINTS=off)" };
      // The checkpoint goes into Postgres from the runner host, not through the API (docs/checkpoints.md).
      if (!env.DATABASE_URL) return { ok: false, reason: "the runner has no DATABASE_URL to keep checkpoints in" };
      const criu = await criuAvailable(docker);
      if (!criu.ok) return criu;
      // A host where CRIU can dump root's tasks only (server/checkpoints/task-user.ts).
      const userRefused = criuCannotDumpUser(user);
      if (userRefused) return { ok: false, reason: userRefused };
      return { ok: true, db: connect({ url: env.DATABASE_URL, poolSize: 4, applicationName: "ratchet-runner-checkpoints" }) };
    })();
    return new DockerCheckpoints(docker, availability, afterMs, limits);
  }

  get restores(): boolean {
    return this.#availability.ok;
  }

  /** Why this runner cannot checkpoint, or null when it can. */
  get unavailable(): string | null {
    return this.#availability.ok ? null : this.#availability.reason;
  }

  /** The container's extra security options: io_uring refused, which CRIU cannot dump. */
  securityOpt(): string[] | undefined {
    return this.#availability.ok ? [checkpointableSeccomp()] : undefined;
  }

  /** The execute message with what the process needs to know of checkpoints. */
  prepare(message: ExecuteMessage): ExecuteMessage {
    const { checkpointId: _restoredByTheRunner, ...rest } = message;
    const checkpoints = this.#availability.ok ? { afterMs: this.#afterMs } : { afterMs: this.#afterMs, unavailable: this.#availability.reason };
    return { ...rest, checkpoints };
  }

  /**
   * Restores the attempt's checkpoint into a new container and drives it to its outcome. Null when
   * it cannot be restored: the checkpoint is deleted, the reason noted, and the caller replays.
   */
  async resume(handle: AttemptHandle): Promise<AttemptOutcome | null> {
    const { message } = handle;
    if (!message.checkpointId || !this.#availability.ok) return null;
    const db = this.#availability.db;
    let segment: Segment;
    try {
      segment = await this.#restore(message.checkpointId, handle, { type: "restored", workerId: message.workerId });
    } catch (error) {
      const reason = `restoring the checkpoint failed: ${(error as Error).message}; replayed`;
      handle.log(reason);
      await attemptsNoteCheckpointFallback(db.sql, [{ runId: runUuid(message), attemptNumber: message.ctx.attempt.number }], reason).catch(() => {});
      await checkpointsDelete(db.sql, message.checkpointId).catch(() => {});
      return null;
    }
    return this.#drive(segment, handle);
  }

  /** Takes over an attempt whose process asked for a checkpoint, to its outcome. */
  takeOver(handover: AttemptHandover, handle: AttemptHandle): Promise<AttemptOutcome> {
    const segment = Segment.adopt(handover, handle);
    segment.push({ kind: "reply", reply: { type: "checkpoint" } });
    return this.#drive(segment, handle);
  }

  async #drive(first: Segment, handle: AttemptHandle): Promise<AttemptOutcome> {
    let segment = first;
    for (;;) {
      const event = await segment.next();
      if (event.kind === "exit") return crashedAfterCheckpoint(segment.container, event.code);
      const { reply } = event;
      if (reply.type === "result") return reply.result;
      if (reply.type !== "checkpoint") continue;
      const next = await this.#checkpoint(segment, handle);
      if (next === "suspended") return { kind: "suspended" };
      if (!(next instanceof Segment)) return next;
      segment = next;
    }
  }

  /** One checkpoint: the run suspends with it, or the process goes on (restored, or refused). */
  async #checkpoint(segment: Segment, handle: AttemptHandle): Promise<"suspended" | Segment | AttemptOutcome> {
    if (!this.#availability.ok) {
      segment.write({ type: "checkpoint-refused", reason: this.unavailable! });
      return segment;
    }
    const db = this.#availability.db;
    const { message } = handle;
    const runId = message.ctx.run.id;
    const startedAt = await segment.container.inspect().then((info) => info.State.StartedAt, () => null);
    let checkpointId: string;
    try {
      const started = performance.now();
      const { checkpoint, dumpMs, storeMs } = await checkpointContainer(
        this.#docker,
        db.sql,
        segment.container.id,
        { runId: runUuid(message), environmentId: message.ctx.environment.id, attempt: message.ctx.attempt.number, workerVersion: message.ctx.run.version ?? null },
        this.#limits,
      );
      checkpointId = checkpoint.id;
      handle.log(
        `checkpointed in ${(performance.now() - started).toFixed(0)} ms (CRIU dump ${dumpMs.toFixed(0)} ms, store ${storeMs.toFixed(0)} ms; ` +
          `${checkpoint.sizeRaw} bytes raw, ${checkpoint.sizeStored} stored)`,
      );
    } catch (error) {
      if (error instanceof CheckpointStoreError && !error.resumedInPlace) {
        return { kind: "crashed", code: null, signal: null, reason: `was lost when its checkpoint could not be stored (${error.message})` };
      }
      const reason = `checkpoint failed: ${error instanceof CheckpointLimitError ? error.reason : (error as Error).message}`;
      handle.log(reason);
      // A cap or a store failure after the dump started the container again from its local dump:
      // it has new stdio, so it is attached afresh. A dump CRIU refused left it running as it was.
      const now = await segment.container.inspect().then((info) => info.State.StartedAt, () => null);
      const current = now !== startedAt ? await Segment.attach(segment.container, handle) : segment;
      handle.bind(current.container, current.stdin);
      current.write({ type: "checkpoint-refused", reason });
      return current;
    }
    try {
      const { suspended } = await apiRequest<{ suspended: boolean }>("POST", `/engine/v1/runs/${runId}/suspend`, {
        body: { workerId: message.workerId, checkpointId },
      });
      if (suspended) return "suspended";
      // The wait ended while the container was dumped: the process goes on now, restored here.
      return await this.#restore(checkpointId, handle, { type: "restored", workerId: message.workerId });
    } catch (error) {
      // The server did not take the suspension: the process is brought back and suspends by replay.
      const reason = `the server did not take the checkpointed suspension: ${(error as Error).message}`;
      handle.log(reason);
      return await this.#restore(checkpointId, handle, { type: "checkpoint-refused", reason }).catch((restoreError: unknown) => ({
        kind: "crashed" as const,
        code: null,
        signal: null,
        reason: `could not be restored from its checkpoint (${(restoreError as Error).message})`,
      }));
    }
  }

  /** A new container from the checkpoint, attached before it starts; `first` tells the process why. */
  async #restore(checkpointId: string, handle: AttemptHandle, first: ToChild): Promise<Segment> {
    if (!this.#availability.ok) throw new Error(this.#availability.reason);
    let segment: Segment | null = null;
    const started = performance.now();
    await restoreContainer(this.#docker, this.#availability.db.sql, checkpointId, {
      labels: handle.labels,
      beforeStart: async (container) => {
        segment = await Segment.attach(container, handle);
      },
    });
    const restored = segment as unknown as Segment;
    handle.bind(restored.container, restored.stdin);
    restored.write(first);
    handle.log(`restored from its checkpoint in ${(performance.now() - started).toFixed(0)} ms`);
    return restored;
  }
}

let processCheckpoints: Promise<DockerCheckpoints> | undefined;

/** The run's id as the checkpoints table keeps it (the protocol speaks public ids). */
function runUuid(message: ExecuteMessage): string {
  return fromPublicId("run", message.ctx.run.id) ?? message.ctx.run.id;
}

async function crashedAfterCheckpoint(container: Docker.Container, code: number | null): Promise<AttemptOutcome> {
  const state = await container.inspect().then((info) => info.State, () => null);
  if (state?.OOMKilled) return { kind: "crashed", code, signal: null, oomKilled: true };
  if (code === 137) return { kind: "crashed", code, signal: "SIGKILL", reason: "was killed with its container (SIGKILL)" };
  return { kind: "crashed", code, signal: null, reason: `exited with code ${code} in its container` };
}
