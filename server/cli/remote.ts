// The CLI talking to a running server: the management routes, authenticated by the personal access
// token of the profile (or RATCHET_ACCESS_TOKEN). It never opens a database.
import { CliError, isUnreachable, unreachableReason } from "./errors.ts";
import { readProfile } from "./profile.ts";

export interface Remote {
  apiUrl: string;
  token: string;
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/** Sends one request; every failure a user can cause becomes a CliError naming the fix. */
export async function remoteRequest<T>(apiUrl: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    if (isUnreachable(error) || (error as Error).name === "TimeoutError") {
      throw new CliError(`No Ratchet server answers at ${apiUrl} (${unreachableReason(error)}): start it (\`npx ratchet start\`) or point --api-url / RATCHET_API_URL at it.`);
    }
    throw error;
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new CliError(`${apiUrl} answered ${response.status} with something other than JSON: is that a Ratchet server?`);
  }
  if (response.ok) return json as T;
  const message = (json as { error?: string } | undefined)?.error ?? `${response.status} ${response.statusText}`;
  if (response.status === 401) {
    throw new CliError(`The server at ${apiUrl} rejected the access token: create one on its dashboard's Access tokens page and run \`npx ratchet login\` again.`);
  }
  if (response.status === 404 && path.startsWith("/api/v1/me")) {
    throw new CliError(`${apiUrl} has no management API: is it a Ratchet server (and recent enough)?`);
  }
  throw new CliError(`The server refused: ${message}`);
}

/** The server and token to use: flags, then RATCHET_API_URL / RATCHET_ACCESS_TOKEN, then the profile. */
export async function remoteFromProfile(options: { apiUrl?: string }, env: NodeJS.ProcessEnv = process.env): Promise<Remote> {
  const profile = await readProfile(env);
  const apiUrl = (options.apiUrl || env.RATCHET_API_URL || profile?.apiUrl)?.replace(/\/+$/, "");
  const token = env.RATCHET_ACCESS_TOKEN || profile?.token;
  if (!apiUrl || !token) {
    throw new CliError("Not logged in to a Ratchet server: run `npx ratchet login --api-url <server URL>` with a token from the dashboard's Access tokens page.");
  }
  return { apiUrl, token, request: (method, path, body) => remoteRequest(apiUrl, token, method, path, body) };
}
