#!/usr/bin/env node
// The `ratchet` command. Ratchet runs on Node.js 24 (native TypeScript). When this shim is started by
// an older system Node, it re-runs itself with the Node 24 binary installed as the `node`
// devDependency, so `npx ratchet …` works on machines whose system Node is older.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "server", "cli", "main.ts");
const major = Number(process.versions.node.split(".")[0]);

if (major >= 24) {
  await import(entry);
} else {
  const local = join(root, "node_modules", ".bin", "node");
  if (!existsSync(local)) {
    console.error(`Ratchet needs Node.js 24 or newer (this is ${process.version}). Run \`npm install\` in ${root} first.`);
    process.exit(1);
  }
  const child = spawn(local, [entry, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
