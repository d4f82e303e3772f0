// What every Ratchet HTTP scope shares: zod validation of requests and responses, the error shape,
// input no field may carry (input-safety.ts), the 404 for unknown routes and the 405 for a known
// path asked with the wrong method.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { jsonDepthBeyond, unsafeTextIn } from "../api/input-safety.ts";
import { limits } from "../api/limits.ts";
import { ApiError, errorBody } from "../errors.ts";
import { errorHandler } from "./error-handler.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Top-level body fields the route checks for unstorable text itself (to fail one item, not the request). */
    textCheckedByRoute?: string[];
  }
}

function withoutFields(body: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([key]) => !fields.includes(key)));
}

/** A NUL character or a lone surrogate in any path parameter, query parameter or JSON body field is a 400 naming it. */
async function refuseUnstorableText(request: FastifyRequest): Promise<void> {
  const own = request.routeOptions.config?.textCheckedByRoute;
  const body = request.body;
  const checkedBody = body !== null && typeof body === "object" && own && !Array.isArray(body) ? withoutFields(body as Record<string, unknown>, own) : body;
  const problem =
    unsafeTextIn(request.params, "params") ??
    unsafeTextIn(request.query, "query") ??
    (typeof checkedBody === "object" && !Buffer.isBuffer(checkedBody) ? unsafeTextIn(checkedBody, "body") : null);
  if (problem) throw new ApiError("VALIDATION_FAILED", problem);
}

/** Fastify's own errors before routing (a malformed percent-encoding): in the documented shape. */
export function frameworkErrors(error: { code?: string; message: string }, _request: FastifyRequest, reply: FastifyReply): void {
  const message = error.code === "FST_ERR_BAD_URL" ? "The URL is malformed (a bad percent-encoding)" : "The request is invalid";
  void reply.code(400).send(errorBody("BAD_REQUEST", message));
}

function routePattern(url: string): RegExp {
  const pattern = url
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment === "*" ? ".*" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${pattern}$`);
}

export function applyHttpConventions(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // Trigger.dev's SDK sends `Content-Type: application/json` on every request, GETs and body-less
  // POSTs included: an empty body is "no body", not invalid JSON.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    // Counted on the text, before anything recursive reads it.
    if (jsonDepthBeyond(text) !== null) {
      done(new ApiError("VALIDATION_FAILED", `body: JSON is nested deeper than ${limits.jsonDepth} levels`), undefined);
      return;
    }
    parseJson(request, text, done);
  });
  app.addHook("preValidation", refuseUnstorableText);

  const routes: Array<{ method: string; pattern: RegExp }> = [];
  app.addHook("onRoute", (route) => {
    // OPTIONS answers CORS preflights on every path: it says nothing about which paths exist.
    for (const method of [route.method].flat()) if (String(method) !== "OPTIONS") routes.push({ method: String(method), pattern: routePattern(route.url) });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = [...new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))].sort();
    if (allowed.length > 0) {
      void reply
        .code(405)
        .header("allow", allowed.join(", "))
        .send(errorBody("METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}; allowed: ${allowed.join(", ")}`));
      return;
    }
    void reply.code(404).send(errorBody("ROUTE_NOT_FOUND", `No route ${request.method} ${path}`));
  });
}
