// The running server writes its URL to <data dir>/server.json, so `ratchet dev` started in the same
// folder finds it on whatever port it runs. Removed again when the server stops.
import { readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const fileName = "server.json";

export async function writeLocalServerFile(dataDir: string, url: string): Promise<void> {
  await writeFile(join(dataDir, fileName), `${JSON.stringify({ url, pid: process.pid })}\n`).catch(() => {});
}

export async function removeLocalServerFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, fileName), { force: true });
}

/** The URL of the server running from this data dir, if its process is still alive. */
export function readLocalServerFile(dataDir: string): string | null {
  let saved: { url?: unknown; pid?: unknown };
  try {
    saved = JSON.parse(readFileSync(join(dataDir, fileName), "utf8")) as typeof saved;
  } catch {
    return null;
  }
  if (typeof saved.url !== "string" || typeof saved.pid !== "number") return null;
  try {
    process.kill(saved.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  return saved.url;
}
