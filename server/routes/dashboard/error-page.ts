// Errors of dashboard pages as an HTML page with a way back, for browsers navigating (Accept:
// text/html, not an htmx fragment request). Everything else (API clients, htmx, tests posting
// without Accept) keeps the JSON error body of the shared handler.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../../errors.ts";
import { errorHandler } from "../../http/error-handler.ts";
import { render } from "./render.ts";

const headings: Record<number, string> = { 403: "Not allowed", 404: "Not found" };

function wantsPage(request: FastifyRequest): boolean {
  return request.method === "GET" && request.headers["hx-request"] !== "true" && (request.headers.accept ?? "").includes("text/html");
}

/** Where "back" goes: the environment's runs for a page under /p/:ref/:env, else the home page. */
function backFor(url: string): { back: string; backLabel: string } {
  const match = /^\/p\/(proj_[a-z0-9]+)\/([a-z]+)\/(runs|[a-z-]+)/.exec(url);
  if (match) return { back: `/p/${match[1]}/${match[2]}/${match[3]}`, backLabel: `Back to ${match[3]}` };
  return { back: "/", backLabel: "Back to the dashboard" };
}

export async function dashboardErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const status = error instanceof ApiError ? error.statusCode : (error.statusCode ?? 500);
  if (!wantsPage(request) || status >= 500 || status < 400) return errorHandler(error, request, reply);
  const { back, backLabel } = backFor(request.url.split("?")[0]!);
  // A page that is itself missing (no such environment) cannot be the way back.
  const safeBack = status === 404 && /No such project or environment/.test(error.message) ? "/" : back;
  return render(request, reply.code(status), "error", {
    title: headings[status] ?? "Error",
    heading: headings[status] ?? "Something is wrong with this request",
    status,
    message: error.message,
    back: safeBack,
    backLabel: safeBack === "/" ? "Back to the dashboard" : backLabel,
  });
}
