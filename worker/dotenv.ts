// `ratchet dev` loads the project's .env, then .env.local over it, into every attempt's environment
// (over the server's dev variables), as `trigger dev` does. Missing files are fine.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseEnv } from "node:util";

export const dotenvFiles = [".env", ".env.local"];

export async function loadDotenvFiles(root: string): Promise<Record<string, string>> {
  const variables: Record<string, string> = {};
  for (const file of dotenvFiles) {
    let text: string;
    try {
      text = await readFile(join(root, file), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    Object.assign(variables, parseEnv(text));
  }
  return variables;
}
