#!/usr/bin/env node
// The `ratchet` command. Installed as a package, it runs the compiled CLI in dist/; in a checkout of
// Ratchet (not inside node_modules) it runs the TypeScript sources. The CLI and server run on Node.js
// 24, which comes with Ratchet as its `node` dependency: started by an older Node, this launcher runs
// the CLI with that binary instead.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "server", "cli", "main.ts");
const compiled = join(root, "dist", "server", "cli", "main.js");
const installed = root.split(sep).includes("node_modules");
const entry = existsSync(source) && !installed ? source : compiled;
if (!existsSync(entry)) {
  console.error(`Ratchet's compiled files are missing from ${join(root, "dist")}: run \`npm run build\` in ${root}.`);
  process.exit(1);
}

const major = Number(process.versions.node.split(".")[0]);
if (major >= 24) {
  await import(pathToFileURL(entry).href);
} else {
  const node24 = findNode24();
  if (!node24) {
    console.error(
      `Ratchet's CLI needs Node.js 24 (this is ${process.version}), which it installs as its \`node\` dependency, but that is missing: ` +
        "run `npm install` again with install scripts allowed for the `node` package, or use Node.js 24.",
    );
    process.exit(1);
  }
  // A terminal's Ctrl-C reaches this launcher and the CLI both (one process group). Stop signals are
  // passed on as SIGUSR2, which the CLI counts apart from the ones it receives itself
  // (server/stop-signals.ts), so one Ctrl-C is one stop request and a supervisor that signals this
  // process alone still stops the CLI.
  const child = spawn(node24, [entry, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, RATCHET_FORWARDED_SIGNAL: "SIGUSR2" } });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill("SIGUSR2"));
  process.on("SIGHUP", () => child.kill("SIGHUP"));
  child.on("exit", (code, signal) => {
    if (signal) {
      // Ended by a forwarded signal before it could handle it: end as the signal this launcher got.
      const own = signal === "SIGUSR2" ? "SIGINT" : signal;
      process.removeAllListeners(own);
      process.kill(process.pid, own);
    } else process.exit(code ?? 1);
  });
}

/** The Node 24 binary of the `node` package, wherever the install put it (nested, hoisted, pnpm). */
function findNode24() {
  try {
    const pkg = createRequire(join(root, "package.json")).resolve("node/package.json");
    const binary = join(dirname(pkg), "bin", "node");
    return existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}
