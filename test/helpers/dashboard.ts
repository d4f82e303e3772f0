// A signed-in dashboard visitor over app.inject: keeps cookies, reads CSRF tokens from forms, parses
// pages with a DOM.
import type { FastifyInstance } from "fastify";
import { parseHTML } from "linkedom";
import { firstSetupLink } from "../../server/dashboard/sessions.ts";
import type { Db } from "../../server/db/client.ts";

export class Browser {
  readonly app: FastifyInstance;
  readonly cookies = new Map<string, string>();
  /** The address the visitor connects from (sign-in is rate-limited per address). */
  readonly remoteAddress: string;

  constructor(app: FastifyInstance, remoteAddress = "127.0.0.1") {
    this.app = app;
    this.remoteAddress = remoteAddress;
  }

  async request(method: "GET" | "POST", url: string, form?: Record<string, string | string[]>, headers: Record<string, string> = {}) {
    const response = await this.app.inject({
      method,
      url,
      remoteAddress: this.remoteAddress,
      headers: {
        cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; "),
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...headers,
      },
      payload: form ? new URLSearchParams(Object.entries(form).flatMap(([name, value]) => [value].flat().map((one): [string, string] => [name, one]))).toString() : undefined,
    });
    for (const cookie of response.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      if (cookie.value === "" || cookie.maxAge === 0 || (cookie.expires && cookie.expires.getTime() < Date.now())) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    return response;
  }

  async page(url: string, headers: Record<string, string> = {}) {
    const response = await this.request("GET", url, undefined, headers);
    const { document } = parseHTML(response.body);
    return { response, document, csrf: document.querySelector('input[name="_csrf"]')?.getAttribute("value") ?? "" };
  }

  /** Posts a form as a browser would, with the CSRF token of the page it came from. */
  async submit(pageUrl: string, action: string, fields: Record<string, string | string[]> = {}) {
    const { csrf } = await this.page(pageUrl);
    return this.request("POST", action, { _csrf: csrf, ...fields });
  }
}

/** Creates the first admin through the setup link, signed in. */
export async function signedInAdmin(app: FastifyInstance, db: Db, email = "admin@example.com", password = "correct horse battery"): Promise<Browser> {
  const link = await firstSetupLink(db, "http://localhost", new Date());
  if (!link) throw new Error("the database already has users");
  const browser = new Browser(app);
  const path = new URL(link).pathname + new URL(link).search;
  const { csrf } = await browser.page(path);
  const token = new URL(link).searchParams.get("token")!;
  const response = await browser.request("POST", "/setup", { _csrf: csrf, token, email, password, name: "Admin" });
  if (response.statusCode !== 303) throw new Error(`setup failed: ${response.statusCode} ${response.body}`);
  return browser;
}
