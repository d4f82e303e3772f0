#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm pack`, git installs and folder installs build too): compiles
// server/, sdk/ and worker/ to JavaScript with .d.ts types in dist/. Plain JavaScript so any Node runs
// it. With --if-possible it skips quietly where TypeScript is not installed (`npm ci --omit=dev`):
// the server then runs from its TypeScript sources on Node 24.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// An installed package ships dist/ without the sources: nothing to build.
if (!existsSync(join(root, "server", "main.ts"))) process.exit(0);

const require = createRequire(join(root, "package.json"));
let tsc;
try {
  tsc = require.resolve("typescript/bin/tsc");
} catch {
  if (process.argv.includes("--if-possible")) {
    console.error("ratchet: TypeScript is not installed, so dist/ was not built; the server runs from its sources with Node 24.");
    process.exit(0);
  }
  console.error("ratchet: the build needs TypeScript: run `npm install` (with dev dependencies) first.");
  process.exit(1);
}

rmSync(join(root, "dist"), { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root });
if (result.status !== 0) process.exit(result.status ?? 1);

// tsc rewrites `.ts` import paths in the JavaScript it emits but not in declarations: point those at
// the emitted .js files too, so a consumer's tsc resolves them without allowImportingTsExtensions.
const relativeTs = /(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g;
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith(".d.ts")) {
      const text = readFileSync(path, "utf8");
      const rewritten = text.replace(relativeTs, (_, head, quote, stem) => `${head}${quote}${stem}.js${quote}`);
      if (rewritten !== text) writeFileSync(path, rewritten);
    }
  }
};
walk(join(root, "dist"));
