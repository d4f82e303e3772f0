// "Copy as curl" and "copy as SDK code" on a run's page: the call that triggers the same task with
// the same payload and tags again. A payload too large to read in a snippet is left as a placeholder.
const inlineLimit = 16 * 1024;

export interface RunSnippetInput {
  publicUrl: string;
  taskIdentifier: string;
  /** The payload as JSON text, or null when it is not JSON or too large to inline. */
  payloadJson: string | null;
  tags: string[];
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function payloadJsonForSnippet(payload: unknown): string | null {
  if (payload === undefined) return "null";
  try {
    const text = JSON.stringify(payload);
    return text.length <= inlineLimit ? text : null;
  } catch {
    return null;
  }
}

export function curlSnippet(input: RunSnippetInput): string {
  const options = input.tags.length ? `,"options":{"tags":${JSON.stringify(input.tags)}}` : "";
  const body = `{"payload":${input.payloadJson ?? '"<payload too large to inline>"'}${options}}`;
  return [
    `curl -X POST ${shellQuote(`${input.publicUrl.replace(/\/$/, "")}/api/v1/tasks/${encodeURIComponent(input.taskIdentifier)}/trigger`)} \\`,
    `  -H "Authorization: Bearer $RATCHET_SECRET_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(body)}`,
  ].join("\n");
}

export function sdkSnippet(input: RunSnippetInput): string {
  let payload = "/* payload too large to inline */ {}";
  if (input.payloadJson !== null) payload = JSON.stringify(JSON.parse(input.payloadJson), null, 2);
  const options = input.tags.length ? `, { tags: ${JSON.stringify(input.tags)} }` : "";
  return [
    `import { configure, tasks } from "ratchet/sdk";`,
    ``,
    `configure({ baseURL: process.env.RATCHET_API_URL, accessToken: process.env.RATCHET_SECRET_KEY });`,
    `await tasks.trigger(${JSON.stringify(input.taskIdentifier)}, ${payload}${options});`,
  ].join("\n");
}
