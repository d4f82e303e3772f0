// The environment's variables from the server (GET /engine/v1/envvars), asked for before each attempt
// with the last ETag: unchanged costs a 304, changed applies to the attempt about to start. A run
// handed out with the version in hand (envvarsVersion) skips the request. When the server cannot be
// reached the last known set is used, so a blip does not fail attempts.
import { resolvedConfig } from "../sdk/config.ts";

export interface VariableSet {
  /** Changes whenever the variables do; processes started with another version are not reused. */
  version: string;
  variables: Record<string, string>;
}

export const noVariables: VariableSet = { version: "none", variables: {} };

export class EnvironmentVariablesSource {
  #current: VariableSet | null = null;
  #etag: string | null = null;
  readonly #log: (message: string) => void;

  constructor(log: (message: string) => void = () => {}) {
    this.#log = log;
  }

  /**
   * `announced`: the version the server named with the run (read after it claimed it). When it is
   * the version in hand, the set is current and no request is needed.
   */
  async current(announced?: number): Promise<VariableSet> {
    if (announced !== undefined && this.#current && this.#current.version === String(announced)) return this.#current;
    const { baseURL, accessToken } = resolvedConfig();
    try {
      const response = await fetch(`${baseURL}/engine/v1/envvars`, {
        headers: { authorization: `Bearer ${accessToken}`, ...(this.#etag && this.#current ? { "if-none-match": this.#etag } : {}) },
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status === 304 && this.#current) return this.#current;
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      const body = (await response.json()) as { version: number; variables: Record<string, string> };
      this.#etag = response.headers.get("etag");
      this.#current = { version: String(body.version), variables: body.variables };
      return this.#current;
    } catch (error) {
      this.#log(`could not fetch the environment's variables (${(error as Error).message}); using the last known ones`);
      return this.#current ?? noVariables;
    }
  }
}
