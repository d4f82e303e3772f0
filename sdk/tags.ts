// tags.add() from inside a run.
import { apiRequest } from "./api-client.ts";
import { currentRuntime } from "./runtime.ts";

export const tags = {
  async add(value: string | string[]): Promise<void> {
    const runtime = currentRuntime();
    if (!runtime) throw new Error("tags.add() can only be used inside a task's run");
    const list = Array.isArray(value) ? value : [value];
    await apiRequest("POST", `/api/v1/runs/${runtime.ctx.run.id}/tags`, { body: { tags: list } });
    runtime.ctx.run.tags = [...new Set([...runtime.ctx.run.tags, ...list])];
  },
};
