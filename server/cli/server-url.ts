// Which server the CLI talks to: --api-url, then RATCHET_API_URL / TRIGGER_API_URL, then the profile
// `ratchet login` saved, then the server running from this folder's data dir (it writes its URL
// there, whatever port it got), then the local default.
import { resolve } from "node:path";
import { configDefaults } from "../config.ts";
import { readLocalServerFile } from "../local-server-file.ts";
import { readProfile } from "./profile.ts";

export function localServerUrl(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | null {
  return readLocalServerFile(resolve(cwd, env.RATCHET_DATA_DIR || configDefaults.RATCHET_DATA_DIR));
}

export interface ServerUrl {
  url: string;
  /** Where the URL came from, for messages. */
  source: string;
}

export async function resolveServerUrl(flag: string | undefined, options: { fallback: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<ServerUrl | null> {
  const trim = (url: string) => url.replace(/\/+$/, "");
  if (flag) return { url: trim(flag), source: "--api-url" };
  if (env.RATCHET_API_URL) return { url: trim(env.RATCHET_API_URL), source: "RATCHET_API_URL" };
  if (env.TRIGGER_API_URL) return { url: trim(env.TRIGGER_API_URL), source: "TRIGGER_API_URL" };
  const profile = await readProfile(env);
  if (profile) return { url: trim(profile.apiUrl), source: "the profile of `ratchet login`" };
  const local = localServerUrl(env);
  if (local) return { url: trim(local), source: "the server running from this folder" };
  return options.fallback ? { url: `http://localhost:${configDefaults.PORT}`, source: "the default" } : null;
}
