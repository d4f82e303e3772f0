// Turns every error into `{ error, code }` with the status from the error table. Client mistakes get
// a 4xx that names the field; anything unexpected is logged and answered with a bare 500.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { ApiError, errorBody, type ErrorCode } from "../errors.ts";

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_INVALID_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "BAD_REQUEST",
  FST_ERR_CTP_EMPTY_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_TYPE: "UNSUPPORTED_MEDIA_TYPE",
};

const codeForStatus: Record<number, ErrorCode> = {
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE",
  429: "RATE_LIMITED",
};

function validationMessage(error: Parameters<typeof hasZodFastifySchemaValidationErrors>[0] & object): string {
  if (!hasZodFastifySchemaValidationErrors(error)) return "The request failed validation";
  const context = (error as { validationContext?: string }).validationContext ?? "body";
  return error.validation
    .slice(0, 5)
    .map((issue) => {
      const path = issue.instancePath.split("/").filter(Boolean).join(".");
      return `${path ? `${context}.${path}` : context}: ${issue.message ?? "is invalid"}`;
    })
    .join("; ");
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof ApiError) {
    // Trigger.dev's SDK retries 409 unless told not to; a conflict here is final.
    if (error.statusCode === 409) void reply.header("x-should-retry", "false");
    void reply.code(error.statusCode).send(errorBody(error.code, error.message));
    return;
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    void reply.code(400).send(errorBody("VALIDATION_FAILED", validationMessage(error)));
    return;
  }
  const mapped = error.code ? fastifyCodes[error.code] : undefined;
  if (mapped) {
    const message = mapped === "PAYLOAD_TOO_LARGE" ? "The request body is larger than the limit" : error.message;
    void reply.code(mapped === "INVALID_JSON" || mapped === "BAD_REQUEST" ? 400 : error.statusCode ?? 400).send(errorBody(mapped, message));
    return;
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    void reply.code(status).send(errorBody(codeForStatus[status] ?? "BAD_REQUEST", error.message));
    return;
  }
  request.log.error({ err: error }, "request failed");
  void reply.code(500).send(errorBody("INTERNAL"));
}
