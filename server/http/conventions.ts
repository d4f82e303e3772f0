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
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody("ROUTE_NOT_FOUND", `No route ${request.method} ${request.url.split("?")[0]}`));
  });
}
