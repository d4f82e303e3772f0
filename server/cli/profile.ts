// The CLI's profile: the server URL and personal access token `ratchet login` saved, in
// $XDG_CONFIG_HOME/ratchet/profile.json (~/.config/ratchet/ by default), readable by the user only.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import { CliError } from "./errors.ts";

const profileSchema = z.object({ apiUrl: z.url(), token: z.string().min(1), email: z.string().optional() });
export type Profile = z.infer<typeof profileSchema>;

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "ratchet", "profile.json");
}

export async function readProfile(env: NodeJS.ProcessEnv = process.env): Promise<Profile | null> {
  const path = profilePath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return null;
  }
  try {
    return profileSchema.parse(JSON.parse(text));
  } catch {
    throw new CliError(`The profile at ${path} is damaged: run \`npx ratchet login\` again to replace it.`);
  }
}

export async function writeProfile(profile: Profile, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = profilePath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  return path;
}

export async function removeProfile(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = profilePath(env);
  const existed = (await readProfile(env).catch(() => true)) !== null;
  await rm(path, { force: true });
  return existed;
}
