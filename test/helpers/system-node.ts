// The machine's own Node (older than 24), as a user's shell finds it: not the one Ratchet installs.
import { execFileSync } from "node:child_process";
import { delimiter, join, sep } from "node:path";

export function systemNode(): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir.includes(`${sep}node_modules${sep}`) || dir.endsWith(`${sep}node_modules`)) continue;
    const candidate = join(dir, "node");
    try {
      const version = execFileSync(candidate, ["--version"], { encoding: "utf8" }).trim();
      if (Number(version.slice(1).split(".")[0]) < 24) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
