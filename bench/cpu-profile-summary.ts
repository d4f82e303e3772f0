// Where the CPU of a run went, from V8's own profiles: every `.cpuprofile` in a folder (written by
// `node --cpu-prof --cpu-prof-dir <folder>`, one per process) summed into self time by area (a
// dependency, a folder of Ratchet's, Node's internals, V8's garbage collector) and the functions
// that cost the most. docs/benchmarks.md quotes it for the hot path.
// Usage: node bench/cpu-profile-summary.ts <folder> [--runs N] [--top 25]
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string" }, top: { type: "string" } } });
const folder = positionals[0];
if (!folder) throw new Error("usage: node bench/cpu-profile-summary.ts <folder> [--runs N] [--top 25]");
const runs = values.runs ? Number(values.runs) : null;
const top = Number(values.top ?? 25);
const root = fileURLToPath(new URL("../", import.meta.url));

/** The area a frame's code belongs to: a package, a folder of the project, or Node and V8 themselves. */
function areaOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? `V8 ${functionName}` : "native";
  if (url.startsWith("node:")) return `node ${url.replace(/^node:(internal\/)?/, "").split("/")[0]}`;
  const path = url.replace(/^file:\/\//, "");
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (dependency) return dependency[1]!;
  const own = path.startsWith(root) ? path.slice(root.length) : path;
  const parts = own.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Which of Ratchet's processes a profile is of, from the code it ran. */
function processKind(profile: Profile): string {
  const urls = profile.nodes.map((node) => node.callFrame.url);
  if (urls.some((url) => url.includes("/worker/executor."))) return "run process";
  if (urls.some((url) => url.includes("/worker/controller."))) return "worker";
  if (urls.some((url) => url.includes("/server/app."))) return "server";
  return "other";
}

const totals = new Map<string, number>();
const functions = new Map<string, number>();
const kinds = new Map<string, { processes: number; micros: number }>();
let all = 0;
let idle = 0;
const files = (await readdir(folder)).filter((name) => name.endsWith(".cpuprofile"));
for (const file of files) {
  const profile = JSON.parse(await readFile(join(folder, file), "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const kind = kinds.get(processKind(profile)) ?? { processes: 0, micros: 0 };
  kinds.set(processKind(profile), kind);
  kind.processes += 1;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const node = byId.get(profile.samples[i]!)!;
    const micros = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idle += micros;
      continue;
    }
    all += micros;
    kind.micros += micros;
    const area = areaOf(url, functionName);
    totals.set(area, (totals.get(area) ?? 0) + micros);
    const where = url === "" ? "" : ` ${url.replace(/^file:\/\//, "").replace(root, "").replace(/.*\/node_modules\//, "")}:${lineNumber + 1}`;
    const name = `${functionName || "(anonymous)"}${where}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }
}

const ms = (micros: number) => (micros / 1000).toFixed(0);
const share = (micros: number) => `${((micros / all) * 100).toFixed(1)}%`;
const perRun = (micros: number) => (runs ? ` | ${(micros / runs).toFixed(0)}` : "");
const rows = (map: Map<string, number>, limit: number) =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, micros]) => `| ${name.replaceAll("|", "\\|")} | ${ms(micros)} | ${share(micros)}${perRun(micros)} |`);
const perRunHeader = runs ? " | µs per run" : "";
const perRunRule = runs ? " | ---:" : "";
console.log(
  [
    `${files.length} profiles, ${ms(all)} ms of CPU on samples (${ms(idle)} ms idle left out)${runs ? `, ${runs} runs` : ""}`,
    ``,
    `| process | processes | CPU ms | share${perRunHeader} |`,
    `| --- | ---: | ---: | ---:${perRunRule} |`,
    ...[...kinds].sort((a, b) => b[1].micros - a[1].micros).map(([name, kind]) => `| ${name} | ${kind.processes} | ${ms(kind.micros)} | ${share(kind.micros)}${perRun(kind.micros)} |`),
    ``,
    `| area | self ms | share${perRunHeader} |`,
    `| --- | ---: | ---:${perRunRule} |`,
    ...rows(totals, top),
    ``,
    `| function | self ms | share${perRunHeader} |`,
    `| --- | ---: | ---:${perRunRule} |`,
    ...rows(functions, top),
  ].join("\n"),
);
