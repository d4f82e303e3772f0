// The public API over real HTTP, for tests where Ratchet listens on a port (worker processes talk to it).
import assert from "node:assert/strict";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HttpApi = (method: string, path: string, body?: unknown) => Promise<any>;

/** Calls the API and returns the JSON answer, whatever its status. */
export function httpApi(getUrl: () => string, getKey: () => string): HttpApi {
  return async (method, path, body) => {
    const response = await fetch(`${getUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${getKey()}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.json();
  };
}

/** Like httpApi, but fails the test unless the answer is a 2xx. */
export function httpApiOk(getUrl: () => string, getKey: () => string): HttpApi {
  return async (method, path, body) => {
    const response = await fetch(`${getUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${getKey()}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
}
