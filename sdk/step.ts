// step.run(name, fn): a side effect done once per run. Its result is journaled; a resumed or retried
// execution gets the recorded result without running fn again. (If the process dies after fn but
// before the result is recorded, fn runs again: make it idempotent where that matters.)
import { journalLookup, journalRecord, runtimeOrThrow } from "./journal.ts";
import { parsePacket, stringifyPacket } from "./serialization.ts";

export const step = {
  async run<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const runtime = runtimeOrThrow("step.run()");
    const position = runtime.nextJournalPosition();
    const operation = `step:${name}`;
    const recorded = await journalLookup(runtime, position, "step", operation);
    if (recorded?.status === "COMPLETED") return parsePacket(recorded.output, recorded.outputType ?? "application/json") as T;
    const output = await fn();
    const packet = stringifyPacket(output);
    await journalRecord(runtime, position, "step", operation, { output: packet.data ?? null, outputType: packet.dataType });
    return output;
  },
};
