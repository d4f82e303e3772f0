// The child process that runs attempts. It loads one task bundle, then executes attempts one at a
// time as the worker sends them. A crash here (process.exit, out of memory, a segfault) takes down
// only this process: the worker reports the attempt CRASHED and forks a fresh one.
import { executeAttempt } from "../sdk/execute.ts";
import { metadata as metadataApi } from "../sdk/metadata.ts";
import { enableInstrumentations, installTracing, withinAttempt } from "../sdk/otel.ts";
import type { ProjectConfig } from "../sdk/project-config.ts";
import { setRuntime, type CheckpointAnswer, type RunEvent, type TaskRuntime } from "../sdk/runtime.ts";
import { parsePacket, stringifyPacket } from "../sdk/serialization.ts";
import { importIfStored, offloadIfLarge } from "../sdk/packets.ts";
import { waitForOpenStreams } from "../sdk/streams.ts";
import { taskRegistry, type AnyTaskOptions } from "../sdk/task.ts";
import { taskManifest } from "./manifest.ts";
import type { CheckpointRefusedMessage, ChildResult, ExecuteMessage, FromChild, RestoredMessage, ToChild } from "./messages.ts";
import { setLongTimeout } from "./long-timeout.ts";
import { readChannelLines, encodeChannelLine } from "./stdio-channel.ts";

const cancelHookTimeoutMs = 10_000;

// The bundle carries inline source maps: stacks of failed runs name the project's .ts files and lines.
process.setSourceMapsEnabled(true);

// A terminal's Ctrl-C reaches every process of the group, this one too: the worker decides when an
// attempt process ends (it drains the runs in hand first), so the signal is not this process's to act on.
process.on("SIGINT", () => {});

/**
 * In a container (the Docker runner) there is no Node IPC channel: messages travel as lines on stdin
 * and stdout, marked so that the task's own output on stdout stays apart (see worker/stdio-channel.ts).
 */
const overStdio = process.argv.includes("--stdio");

function send(message: FromChild): void {
  if (overStdio) process.stdout.write(encodeChannelLine(message));
  else process.send?.(message);
}

let loadedBundle: string | null = null;

async function load(bundle: string): Promise<Map<AnyTaskOptions, { filePath: string; exportName: string }>> {
  if (loadedBundle !== null && loadedBundle !== bundle) throw new Error("a child process runs one bundle only");
  // Instrumentations are objects of the config module: this process imports it for them, before the tasks.
  const configBundle = process.env.RATCHET_CONFIG_BUNDLE;
  if (configBundle && loadedBundle === null) {
    const config = ((await import(configBundle)) as { default?: ProjectConfig }).default;
    enableInstrumentations(config?.instrumentations ?? []);
  }
  const module = (await import(bundle)) as { taskModules: Array<[string, Record<string, unknown>]> };
  loadedBundle = bundle;
  const locations = new Map<AnyTaskOptions, { filePath: string; exportName: string }>();
  const byId = taskRegistry().tasks;
  for (const [filePath, exports] of module.taskModules) {
    for (const [exportName, value] of Object.entries(exports)) {
      const id = (value as { id?: unknown } | null)?.id;
      const options = typeof id === "string" ? byId.get(id) : undefined;
      if (options && !locations.has(options)) locations.set(options, { filePath, exportName });
    }
  }
  return locations;
}

async function index(bundle: string, config: ProjectConfig): Promise<void> {
  try {
    const locations = await load(bundle);
    const registry = taskRegistry();
    const tasks = [...registry.tasks.values()].map((options) => taskManifest(options, config, locations.get(options)));
    send({ type: "manifest", tasks, queues: [...registry.queues.values()] });
  } catch (error) {
    send({ type: "index-error", message: (error as Error)?.stack ?? String(error) });
  }
}

let current: { controller: AbortController } | null = null;
/** The answer to the checkpoint this process asked its runner for, if one is pending. */
let answerCheckpoint: ((answer: RestoredMessage | CheckpointRefusedMessage) => void) | null = null;

async function execute(message: ExecuteMessage): Promise<ChildResult> {
  await load(message.bundle);
  const task = taskRegistry().tasks.get(message.taskId);
  if (!task) {
    return {
      kind: "finished",
      result: {
        ok: false,
        final: true,
        skipRetrying: true,
        error: { type: "BUILT_IN_ERROR", name: "Error", message: `This worker version has no task "${message.taskId}"` },
      },
    };
  }
  const controller = new AbortController();
  current = { controller };
  const events: RunEvent[] = [];
  const flushEvents = () => {
    if (events.length > 0) send({ type: "events", events: events.splice(0) });
  };
  let seq = 0;
  let journalPosition = 0;
  let markSuspended: () => void = () => {};
  const suspended = new Promise<"suspended">((resolve) => (markSuspended = () => resolve("suspended")));
  const checkpoints: TaskRuntime["checkpoints"] =
    message.checkpoints && "unavailable" in message.checkpoints
      ? message.checkpoints
      : message.checkpoints && {
          afterMs: message.checkpoints.afterMs,
          take: () =>
            new Promise<CheckpointAnswer>((resolve) => {
              // What the task logged so far leaves before the dump, so none is sent twice or lost.
              flushEvents();
              answerCheckpoint = (answer) => {
                if (answer.type === "restored") runtime.workerId = answer.workerId;
                resolve(answer.type === "restored" ? { restored: true } : { restored: false, reason: answer.reason });
              };
              send({ type: "checkpoint" });
            }),
        };
  const runtime: TaskRuntime = {
    checkpoints,
    nextSeq: () => seq++,
    workerId: message.workerId,
    nextJournalPosition: () => journalPosition++,
    waitInProcessMs: message.waitInProcessMs,
    suspend: () => markSuspended(),
    ctx: message.ctx,
    signal: controller.signal,
    emit: (event) => {
      events.push(event);
      if (events.length >= 100) flushEvents();
    },
    metadata: message.metadata,
    pendingMetadataOperations: [],
    // Logs and logger.trace spans outside any span of the task's own belong to the attempt.
    currentSpanId: message.ctx.trace?.spanId,
  };
  setRuntime(runtime);
  const eventTimer = setInterval(flushEvents, 200);
  const metadataTimer = setInterval(() => void metadataApi.flush().catch(() => {}), 1000);
  try {
    const stored = await importIfStored(message.payload, message.payloadType);
    const payload = parsePacket(stored.data, stored.dataType);
    installTracing();
    const attempt = withinAttempt(message.ctx.trace, () =>
      executeAttempt({ task, payload, ctx: message.ctx, signal: controller.signal, maxAttempts: message.maxAttempts }),
    );
    const outcomes: Array<Promise<"timeout" | "canceled" | "suspended" | { done: Awaited<typeof attempt> }>> = [
      attempt.then((done) => ({ done })),
      suspended,
      new Promise((resolve) => controller.signal.addEventListener("abort", () => resolve("canceled"), { once: true })),
    ];
    let cancelTimer: (() => void) | undefined;
    if (message.maxDuration) outcomes.push(new Promise((resolve) => (cancelTimer = setLongTimeout(() => resolve("timeout"), message.maxDuration! * 1000))));
    const winner = await Promise.race(outcomes);
    cancelTimer?.();
    if (winner === "suspended") return { kind: "suspended" };
    if (winner === "timeout") {
      controller.abort(new Error("The run exceeded its maxDuration"));
      return { kind: "timed-out" };
    }
    if (winner === "canceled") {
      if (task.onCancel) {
        await Promise.race([
          Promise.resolve(
            task.onCancel({ ctx: message.ctx, payload, task: message.taskId, signal: controller.signal, runPromise: attempt.catch(() => undefined) }),
          ).catch(() => {}),
          new Promise((resolve) => setTimeout(resolve, cancelHookTimeoutMs)),
        ]);
      }
      return { kind: "canceled" };
    }
    // Open streams.pipe() calls finish sending before the attempt ends.
    await waitForOpenStreams();
    const result = winner.done;
    if (!result.ok) return { kind: "finished", result };
    // Named as Trigger.dev's task executor names it: the run and attempt, then "output".
    const packet = await offloadIfLarge(stringifyPacket(result.output), `${message.ctx.run.id}-${message.ctx.attempt.number}/output`);
    return { kind: "finished", result: { ok: true, output: packet.data, outputType: packet.dataType } };
  } finally {
    clearInterval(eventTimer);
    clearInterval(metadataTimer);
    await metadataApi.flush().catch(() => {});
    flushEvents();
    setRuntime(null);
    current = null;
  }
}

if (process.argv[2] === "--index") {
  await index(process.argv[3]!, JSON.parse(process.argv[4] ?? "{}") as ProjectConfig);
  process.disconnect?.();
} else {
  const onMessage = (message: ToChild) => {
    if (message.type === "cancel") {
      current?.controller.abort(new Error("Run was canceled"));
      return;
    }
    if (message.type === "restored" || message.type === "checkpoint-refused") {
      const answer = answerCheckpoint;
      answerCheckpoint = null;
      answer?.(message);
      return;
    }
    execute(message).then(
      (result) => send({ type: "result", result }),
      (error: unknown) =>
        send({
          type: "result",
          result: {
            kind: "finished",
            result: { ok: false, final: false, skipRetrying: false, error: { type: "BUILT_IN_ERROR", name: "Error", message: (error as Error)?.message ?? String(error), stackTrace: (error as Error)?.stack } },
          },
        }),
    );
  };
  if (overStdio) {
    // The runner closes stdin when it no longer needs this container.
    readChannelLines<ToChild>(process.stdin, onMessage, () => process.exit(0));
  } else {
    process.on("message", onMessage);
    // The worker disconnects when it no longer needs this process.
    process.on("disconnect", () => process.exit(0));
  }
}
