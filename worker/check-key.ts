// Checks a secret key with the server before a worker or runner starts, turning "nothing there" and
// "wrong key" into one sentence each.
import { CliError, isUnreachable, unreachableReason } from "../server/cli/errors.ts";
import { ApiError, apiRequest } from "../sdk/api-client.ts";

export interface Whoami {
  project: { ref: string };
  environment: { id: string; slug: string; type: string };
}

export async function checkKey(apiUrl: string, source: string, keyName: string): Promise<Whoami> {
  try {
    return await apiRequest<Whoami>("GET", "/api/v1/whoami", { maxAttempts: 1 });
  } catch (error) {
    if (isUnreachable(error)) {
      throw new CliError(`No Ratchet server answers at ${apiUrl} (from ${source}; ${unreachableReason(error)}): start one with \`npx ratchet start\`, or pass --api-url / set RATCHET_API_URL.`);
    }
    if (error instanceof ApiError && error.status === 401) {
      throw new CliError(`The server at ${apiUrl} rejected ${keyName}: use a secret key of this server (its dashboard's API keys page, or \`npx ratchet keys create --env dev\`).`);
    }
    if (error instanceof ApiError && error.status === 404) {
      throw new CliError(`${apiUrl} (from ${source}) does not look like a Ratchet server: point --api-url at one.`);
    }
    throw error;
  }
}
