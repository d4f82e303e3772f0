// Task files are bundled with esbuild (any syntax it handles), with imports of "@trigger.dev/sdk",
// "@trigger.dev/sdk/v3" and "ratchet/sdk" pointed at Ratchet's SDK, so Trigger.dev task folders run
// unmodified. Other packages stay external and load from the project's node_modules.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

export const sdkEntry = fileURLToPath(new URL("../sdk/index.ts", import.meta.url));

const sdkAlias: Plugin = {
  name: "ratchet-sdk",
  setup(builder) {
    builder.onResolve({ filter: /^(@trigger\.dev\/sdk(\/v3)?|ratchet\/sdk)$/ }, () => ({ path: sdkEntry }));
  },
};

async function bundle(options: { contents: string; resolveDir: string; outDir: string; name: string }): Promise<string> {
  await mkdir(options.outDir, { recursive: true });
  const hash = createHash("sha256").update(options.contents).update(String(Date.now())).digest("hex").slice(0, 12);
  const outfile = join(options.outDir, `${options.name}-${hash}.mjs`);
  await build({
    stdin: { contents: options.contents, resolveDir: options.resolveDir, sourcefile: `${options.name}-entry.ts`, loader: "ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outfile,
    packages: "external",
    plugins: [sdkAlias],
    sourcemap: "inline",
    logLevel: "silent",
  });
  return pathToFileURL(outfile).href;
}

/** One module, bundled (for the config file). Returns a file URL to import. */
export function bundleModule(path: string, outDir: string, name: string): Promise<string> {
  const contents = `import * as m from ${JSON.stringify(path)};\nexport default m.default ?? m.config;\n`;
  return bundle({ contents, resolveDir: outDir, outDir, name });
}

/** Every task file in one bundle whose `taskModules` lists [file, module] pairs. */
export function bundleTasks(root: string, files: string[], outDir: string): Promise<string> {
  const imports = files.map((file, index) => `import * as m${index} from ${JSON.stringify(file)};`);
  const list = files.map((file, index) => `[${JSON.stringify(relative(root, file))}, m${index}]`);
  return bundle({ contents: `${imports.join("\n")}\nexport const taskModules = [${list.join(", ")}];\n`, resolveDir: root, outDir, name: "tasks" });
}
