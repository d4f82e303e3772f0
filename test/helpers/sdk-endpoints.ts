// Every endpoint the official SDK's API client (@trigger.dev/core 4.8.x) calls, read from its
// source: `${this.baseUrl}/path` templates and the `method:` that follows each (GET when none).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export function sdkEndpoints(): string[] {
  const require = createRequire(import.meta.url);
  const file = require.resolve("@trigger.dev/core/v3").replace(/v3[/\\]index\.js$/, "v3/apiClient/index.js");
  const source = readFileSync(file, "utf8");
  const endpoints = new Set<string>();
  for (const match of source.matchAll(/`\$\{this\.baseUrl\}(\/[^`]*)`/g)) {
    const after = source.slice(match.index + match[0].length, match.index + match[0].length + 400).split(/\n\s{4}\}/)[0]!;
    const method = /method:\s*"([A-Z]+)"/.exec(after)?.[1] ?? "GET";
    const path = match[1]!
      .replace(/\$\{[^{}]*\}/g, "{}") // parameters
      .replace(/\$\{.*$/, "") // a query string built in place
      .replace(/\?.*$/, "")
      .replace(/([^/])\{\}/g, "$1"); // a suffix (query string) glued to a segment
    endpoints.add(`${method} ${path}`);
  }
  return [...endpoints].sort();
}
