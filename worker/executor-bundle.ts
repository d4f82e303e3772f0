// The attempt executor (worker/executor.ts) as one self-contained file, for deploy images: a
// container of a version's image runs it without any Ratchet install, and the task bundle beside
// it loads the project's own packages from the image's node_modules.
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { build, stop } from "esbuild";
import { executorPath } from "./attempt-process.ts";

export async function bundleExecutor(outfile: string): Promise<void> {
  await mkdir(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [executorPath],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outfile,
    // CommonJS dependencies that require() Node's modules need a require in an ES module.
    banner: { js: 'import { createRequire as __ratchetCreateRequire } from "node:module"; const require = __ratchetCreateRequire(import.meta.url);' },
    logLevel: "silent",
  }).finally(() => stop());
}
