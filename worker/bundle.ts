// Task files are bundled with esbuild (any syntax it handles), with imports of "@trigger.dev/sdk",
// "@trigger.dev/sdk/v3" and "ratchet/sdk" pointed at Ratchet's SDK, so Trigger.dev task folders run
// unmodified. The bundle is self-contained for Ratchet's own code: the SDK and what it imports
// (superjson, …) are bundled from Ratchet's install, whatever its layout (hoisted, a symlinked folder
// install, pnpm). Packages the project's own files import stay external and load from the project's
// node_modules.
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, stop, type Plugin } from "esbuild";

// The compiled worker (dist/) bundles the compiled SDK.
export const sdkEntry = fileURLToPath(new URL(import.meta.url.endsWith(".js") ? "../sdk/index.js" : "../sdk/index.ts", import.meta.url));
const sdkDir = realpathSync(dirname(sdkEntry)) + sep;

const sdkAlias: Plugin = {
  name: "ratchet-sdk",
  setup(builder) {
    builder.onResolve({ filter: /^(@trigger\.dev\/sdk(\/v3)?|ratchet\/sdk)$/ }, () => ({ path: sdkEntry }));
  },
};

/** Bare imports from the project's own files stay external; everything else is bundled. */
function projectPackagesExternal(projectRoot: string): Plugin {
  const root = realpathSync(projectRoot) + sep;
  const projectFile = (path: string) => path.startsWith(root) && !path.includes(`${sep}node_modules${sep}`) && !path.startsWith(sdkDir);
  return {
    name: "ratchet-project-packages",
    setup(builder) {
      builder.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind === "entry-point" || !projectFile(args.importer)) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

async function bundle(options: { contents: string; root: string; resolveDir: string; outDir: string; name: string }): Promise<string> {
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
    plugins: [sdkAlias, projectPackagesExternal(options.root)],
    // Stacks point at the project's .ts files: the attempt process turns source maps on.
    sourcemap: "inline",
    logLevel: "silent",
  }).finally(() =>
    // No esbuild service process is left running between builds: a terminal's Ctrl-C would end it
    // too, and esbuild would then fail the worker with EPIPE while it drains. The next build starts one.
    stop(),
  );
  return pathToFileURL(outfile).href;
}

/** One module, bundled (for the config file). Returns a file URL to import. */
export function bundleModule(path: string, outDir: string, name: string): Promise<string> {
  const contents = `import * as m from ${JSON.stringify(path)};\nexport default m.default ?? m.config;\n`;
  return bundle({ contents, root: dirname(path), resolveDir: outDir, outDir, name });
}

/** Every task file in one bundle whose `taskModules` lists [file, module] pairs. */
export function bundleTasks(root: string, files: string[], outDir: string): Promise<string> {
  const imports = files.map((file, index) => `import * as m${index} from ${JSON.stringify(file)};`);
  const list = files.map((file, index) => `[${JSON.stringify(relative(root, file))}, m${index}]`);
  return bundle({ contents: `${imports.join("\n")}\nexport const taskModules = [${list.join(", ")}];\n`, root, resolveDir: root, outDir, name: "tasks" });
}

/** esbuild's first error as `file:line:column: text`, relative to the project; other errors as they are. */
export function describeBuildFailure(error: unknown, root: string): string {
  const first = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }).errors?.[0];
  if (!first) return (error as Error)?.message ?? String(error);
  const where = first.location ? `${relative(root, first.location.file) || first.location.file}:${first.location.line}:${first.location.column + 1}: ` : "";
  return `${where}${first.text}`;
}
