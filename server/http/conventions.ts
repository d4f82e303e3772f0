// What every Ratchet HTTP scope shares: zod validation of requests and responses, the error shape,
// and the 404 for unknown routes.
import type { FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { errorBody } from "../errors.ts";
import { errorHandler } from "./error-handler.ts";

export function applyHttpConventions(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // Trigger.dev's SDK sends `Content-Type: application/json` on every request, GETs and body-less
  // POSTs included: an empty body is "no body", not invalid JSON.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body.toString().trim() === "") {
      done(null, undefined);
      return;
    }
    parseJson(request, body.toString(), done);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody("ROUTE_NOT_FOUND", `No route ${request.method} ${request.url.split("?")[0]}`));
  });
}
