// Every error Ratchet answers with, in one table: code → HTTP status and default message.
// Responses are always `{ "error": "<message>", "code": "<CODE>" }`. docs/api.md lists every code;
// a test fails when one is missing there.

export const errorTable = {
  BAD_REQUEST: { status: 400, message: "The request is invalid" },
  VALIDATION_FAILED: { status: 400, message: "The request failed validation" },
  INVALID_JSON: { status: 400, message: "The request body is not valid JSON" },
  UNAUTHORIZED: {
    status: 401,
    message: "Missing or invalid API key: send `Authorization: Bearer <secret key>`",
  },
  FORBIDDEN: { status: 403, message: "This key may not do that" },
  NOT_FOUND: { status: 404, message: "Not found" },
  ROUTE_NOT_FOUND: { status: 404, message: "No such route" },
  METHOD_NOT_ALLOWED: { status: 405, message: "Method not allowed" },
  CONFLICT: { status: 409, message: "The resource changed; retry the request" },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Unsupported content type" },
  UNPROCESSABLE: { status: 422, message: "The request cannot be processed" },
  RATE_LIMITED: { status: 429, message: "Too many requests" },
  INTERNAL: { status: 500, message: "Internal server error" },
  NOT_READY: { status: 503, message: "Not ready" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorTable;

export const errorCodes = Object.keys(errorTable) as ErrorCode[];

/** An error meant for the client: its message is safe to show and its code is in the table. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? errorTable[code].message);
    this.name = "ApiError";
    this.code = code;
    this.statusCode = errorTable[code].status;
  }
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

export function errorBody(code: ErrorCode, message?: string): ErrorBody {
  return { error: message ?? errorTable[code].message, code };
}
