// Where the SDK sends requests and with which key: configure() wins, then RATCHET_API_URL /
// RATCHET_SECRET_KEY, then Trigger.dev's TRIGGER_API_URL / TRIGGER_SECRET_KEY.
export interface ClientConfig {
  baseURL?: string;
  accessToken?: string;
  /** Trigger.dev's other name for accessToken. */
  secretKey?: string;
}

const store = Symbol.for("ratchet.sdk.config");
type Global = typeof globalThis & { [store]?: ClientConfig };

export function configure(options: ClientConfig): void {
  (globalThis as Global)[store] = { ...(globalThis as Global)[store], ...options };
}

export class ConfigurationError extends Error {
  override name = "ConfigurationError";
}

export function resolvedConfig(): { baseURL: string; accessToken: string } {
  const configured = (globalThis as Global)[store] ?? {};
  const env = process.env;
  const baseURL = configured.baseURL ?? env.RATCHET_API_URL ?? env.TRIGGER_API_URL;
  const accessToken =
    configured.accessToken ?? configured.secretKey ?? env.RATCHET_SECRET_KEY ?? env.TRIGGER_SECRET_KEY ?? env.TRIGGER_ACCESS_TOKEN;
  if (!baseURL || !accessToken) {
    throw new ConfigurationError(
      "Set RATCHET_API_URL and RATCHET_SECRET_KEY (or TRIGGER_API_URL and TRIGGER_SECRET_KEY), or call configure({ baseURL, accessToken }).",
    );
  }
  return { baseURL: baseURL.replace(/\/$/, ""), accessToken };
}
