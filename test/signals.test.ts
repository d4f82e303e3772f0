// Ctrl-C in a terminal: the terminal signals the whole foreground process group — the launcher in
// bin/ (which, on a system Node older than 24, runs the CLI in a Node 24 child and forwards signals),
// the CLI and its attempt processes. One Ctrl-C must drain the runs in hand; a second, later one
// stops at once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { childEnv, projectRoot } from "./helpers/server-process.ts";
import { systemNode } from "./helpers/system-node.ts";

const launcherNode = systemNode() ?? process.execPath;

function startDev(cwd: string, env: Record<string, string>) {
  // Its own process group, as a shell gives a foreground job: -pid signals all of it, like a terminal.
  const child = spawn(launcherNode, [join(projectRoot, "bin/ratchet.js"), "dev", "--shutdown-grace", "30"], { cwd, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const waiters: Array<() => void> = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output)) {
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => reject(new Error(`never saw ${pattern}:\n${output}`)), timeoutMs);
      waiters.push(check);
      check();
    });
  const ctrlC = () => process.kill(-child.pid!, "SIGINT");
  /**
   * One Ctrl-C whose two copies arrive far apart: first straight to the CLI (the launcher's Node 24
   * child), then, 500 ms later, to the launcher, which forwards it.
   */
  const ctrlCForwardedLate = async () => {
    const cli = Number((await readFile(`/proc/${child.pid}/task/${child.pid}/children`, "utf8")).trim().split(/\s+/)[0]);
    assert.ok(cli > 0, "the launcher runs the CLI in a child process");
    process.kill(cli, "SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(child.pid!, "SIGINT");
  };
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  };
  return { output: () => output, waitFor, exited, ctrlC, ctrlCForwardedLate, kill };
}

describe("Ctrl-C in ratchet dev", { skip: process.platform === "win32" }, () => {
  let t: TestApp;
  let url: string;
  let key: string;
  let dir: string;

  before(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    key = await t.key("dev");
    dir = await mkdtemp(join(tmpdir(), "ratchet-signals-"));
    await mkdir(join(dir, "trigger"));
    // The run holds until a file appears, so the test decides when it may finish.
    await writeFile(
      join(dir, "trigger", "slow.ts"),
      `import { existsSync } from "node:fs";
import { task } from "ratchet/sdk";
export const slow = task({
  id: "slow",
  run: async (payload: { release: string }) => {
    console.log("slow is running");
    while (!existsSync(payload.release)) await new Promise((resolve) => setTimeout(resolve, 50));
    return { finished: true };
  },
});
`,
    );
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const trigger = async (release: string) => {
    const response = await fetch(`${url}/api/v1/tasks/slow/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { release } }),
    });
    return ((await response.json()) as { id: string }).id;
  };

  const presses: Array<[string, (dev: ReturnType<typeof startDev>) => unknown]> = [["a Ctrl-C", (dev) => dev.ctrlC()]];
  // Only a launcher on an older Node runs the CLI as a child it forwards signals to.
  if (launcherNode !== process.execPath && process.platform === "linux") presses.push(["a Ctrl-C whose forwarded copy comes 500 ms late", (dev) => dev.ctrlCForwardedLate()]);
  for (const [how, press] of presses)
  test(`${how} drains the run in hand, under a launcher on ${launcherNode === process.execPath ? "Node 24" : "the system Node"}`, async () => {
    const dev = startDev(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    try {
      await dev.waitFor(/tasks registered as version/);
      const release = join(dir, `release-${how.length}`);
      const runId = await trigger(release);
      await dev.waitFor(new RegExp(`STARTED\\s+slow\\s+${runId}[\\s\\S]*slow is running`));
      await press(dev);
      await dev.waitFor(/stopping: finishing 1 runs in hand/);
      await writeFile(release, "");
      const { code } = await dev.exited;
      assert.equal(code, 0, dev.output());
      assert.match(dev.output(), new RegExp(`COMPLETED slow\\s+${runId}`), "the run finished during the drain");
      assert.equal(dev.output().match(/stopping: finishing/g)?.length, 1, "the Ctrl-C counted once");
      assert.doesNotMatch(dev.output(), /second signal/);
    } finally {
      dev.kill();
    }
  });

  test("a second, later Ctrl-C stops at once", async () => {
    const dev = startDev(dir, { RATCHET_API_URL: url, RATCHET_SECRET_KEY: key });
    try {
      await dev.waitFor(/tasks registered as version/);
      const runId = await trigger(join(dir, "never"));
      await dev.waitFor(new RegExp(`STARTED\\s+slow\\s+${runId}[\\s\\S]*slow is running`));
      dev.ctrlC();
      await dev.waitFor(/stopping: finishing 1 runs in hand/);
      await new Promise((resolve) => setTimeout(resolve, 300)); // a person's second Ctrl-C, well apart from the first
      const sent = Date.now();
      dev.ctrlC();
      const { code, signal, at } = await dev.exited;
      assert.ok(code !== 0 || signal !== null, `stopped with a failure status (${code}, ${signal})`);
      assert.ok(at - sent < 5_000, `stopped at once (${at - sent} ms), not after the 30 s grace`);
      assert.match(dev.output(), /second signal: stopping now/);
    } finally {
      dev.kill();
    }
  });
});

describe("onStopSignals", () => {
  test("a repeat within 100 ms is the same signal; a later one is the second", async () => {
    const { onStopSignals } = await import("../server/stop-signals.ts");
    let now = 0;
    const seen: number[] = [];
    const off = onStopSignals((count) => seen.push(count), () => now);
    try {
      process.emit("SIGINT", "SIGINT");
      now = 40;
      process.emit("SIGINT", "SIGINT");
      assert.deepEqual(seen, [1], "the terminal's and the launcher's copy of one Ctrl-C");
      now = 400;
      process.emit("SIGTERM", "SIGTERM");
      assert.deepEqual(seen, [1, 2]);
    } finally {
      off();
    }
  });
});
