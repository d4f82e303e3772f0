// The dashboard: server-rendered pages (eta, escaping on) with htmx served by Ratchet itself, signed
// in with sessions in HttpOnly SameSite cookies, CSRF tokens on every form, and live updates by
// Server-Sent Events fed from LISTEN/NOTIFY. Pages read and change data only through the engine
// and the storage layer.
import { openLiveStream } from "./live-stream.ts";
import fastifyCookie from "@fastify/cookie";
import fastifyCsrf from "@fastify/csrf-protection";
import fastifyFormbody from "@fastify/formbody";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifyView from "@fastify/view";
import { Eta } from "eta";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { AppContext } from "../../app-context.ts";
import { packageRoot } from "../../package-root.ts";
import { hashSecret, sessionCookie } from "../../dashboard/sessions.ts";
import { freshReadsCookie, freshReadsSeconds } from "../../db/read-replica.ts";
import { ApiError } from "../../errors.ts";
import { instanceCallbackSecret } from "../../storage/waitpoints.ts";
import { environmentsForUser, sessionsFindUser, type SessionUser } from "../../storage/users.ts";
import type { DashboardScope } from "./render.ts";
import { accountPages } from "./account-pages.ts";
import { authPages } from "./auth-pages.ts";
import { catalogPages } from "./catalog-pages.ts";
import { deploymentPages } from "./deployment-pages.ts";
import { environmentPages } from "./environment-pages.ts";
import { runPages } from "./run-pages.ts";
import { envvarPages } from "./envvar-pages.ts";
import { alertPages } from "./alert-pages.ts";
import { teamPages } from "./team-pages.ts";
import { environmentsPages } from "./environments-pages.ts";
import { ssoPages } from "./sso-pages.ts";
import { tracePages } from "./trace-pages.ts";
import { queryPages } from "./query-pages.ts";
import { environmentSettingsPages } from "./environment-settings-pages.ts";
import { overviewPages } from "./overview-pages.ts";
import { testRunPages } from "./test-run-pages.ts";
import { dashboardErrorHandler } from "./error-page.ts";

const viewsDir = join(packageRoot, "views");

declare module "fastify" {
  interface FastifyRequest {
    user: SessionUser | null;
  }
}

export async function dashboardRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  // Every server process signs cookies with the installation's secret, so any of them can check them.
  // (If the database is unreachable while the app is built, a random secret keeps /readyz answering;
  // the dashboard then only works with this process until it is restarted.)
  const instanceSecret = await instanceCallbackSecret(context.db.sql).catch((error: unknown) => {
    app.log.warn({ err: error }, "could not read the installation secret; dashboard cookies are signed with a temporary one");
    return randomBytes(32);
  });
  const cookieSecret = createHmac("sha256", instanceSecret).update("dashboard cookies").digest("hex");
  const secure = context.config.publicUrl.startsWith("https://");
  await app.register(fastifyCookie, { secret: cookieSecret });
  await app.register(fastifyFormbody);
  await app.register(fastifyCsrf, {
    sessionPlugin: "@fastify/cookie",
    cookieKey: "ratchet_csrf",
    cookieOpts: { signed: true, httpOnly: true, sameSite: "strict", path: "/", secure },
    getToken: (request) => (request.body as { _csrf?: string } | undefined)?._csrf ?? (request.headers["x-csrf-token"] as string | undefined),
  });
  await app.register(fastifyRateLimit, { global: false });
  app.setErrorHandler(dashboardErrorHandler);
  await app.register(fastifyView, { engine: { eta: new Eta({ views: viewsDir, cache: true }) }, root: viewsDir });

  const require = createRequire(import.meta.url);
  const statics: Record<string, { path: string; type: string }> = {
    "htmx.min.js": { path: require.resolve("htmx.org/dist/htmx.min.js"), type: "text/javascript" },
    "live.js": { path: join(viewsDir, "static", "live.js"), type: "text/javascript" },
    "theme.js": { path: join(viewsDir, "static", "theme.js"), type: "text/javascript" },
    "trace.js": { path: join(viewsDir, "static", "trace.js"), type: "text/javascript" },
    "app.css": { path: join(viewsDir, "static", "app.css"), type: "text/css" },
    // The Query page's editor: CodeJar and highlight.js's ES module builds, from node_modules.
    "query-editor.js": { path: join(viewsDir, "static", "query-editor.js"), type: "text/javascript" },
    "codejar.js": { path: require.resolve("codejar"), type: "text/javascript" },
    "hljs-core.js": { path: join(dirname(require.resolve("@highlightjs/cdn-assets/package.json")), "es", "core.min.js"), type: "text/javascript" },
    "hljs-pgsql.js": { path: join(dirname(require.resolve("@highlightjs/cdn-assets/package.json")), "es", "languages", "pgsql.min.js"), type: "text/javascript" },
  };
  const cache = new Map<string, Buffer>();
  app.get<{ Params: { file: string } }>("/static/:file", async (request, reply) => {
    const file = statics[request.params.file];
    if (!file) throw new ApiError("NOT_FOUND", "No such file");
    let body = cache.get(file.path);
    if (!body) {
      body = await readFile(file.path);
      cache.set(file.path, body);
    }
    return reply.type(file.type).header("cache-control", "public, max-age=3600").send(body);
  });

  app.decorateRequest("user", null);
  app.addHook("preHandler", async (request) => {
    const token = request.cookies[sessionCookie];
    request.user = token ? await sessionsFindUser(context.db.sql, hashSecret(token), context.clock.now()) : null;
  });
  // Read-your-writes with a read replica: after a request that may have changed something, this
  // browser reads from the primary for a few seconds (the page it is redirected to shows the change).
  // A POST that itself read from the replica (a Query page run) changed nothing.
  if (context.reads.replica) {
    app.addHook("onSend", async (request, reply, payload) => {
      if (request.method !== "GET" && request.method !== "HEAD" && !request.readFromReplica) {
        reply.setCookie(freshReadsCookie, "1", { path: "/", maxAge: freshReadsSeconds, httpOnly: true, sameSite: "lax", secure });
      }
      return payload;
    });
  }

  /** The environment a /p/:ref/:env page is about, if the signed-in user may see it. */
  const scopeOf = async (request: FastifyRequest<{ Params: { ref: string; env: string } }>, reply: FastifyReply): Promise<DashboardScope | null> => {
    if (!request.user) {
      await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
      return null;
    }
    const environments = await environmentsForUser(context.db.sql, request.user.userId);
    const environment = environments.find((candidate) => candidate.projectRef === request.params.ref && candidate.environmentType === request.params.env);
    if (!environment) throw new ApiError("NOT_FOUND", "No such project or environment");
    return { environment, environments, base: `/p/${environment.projectRef}/${environment.environmentType}` };
  };

  app.get("/", async (request, reply) => {
    if (!request.user) return reply.redirect("/login");
    const [first] = await environmentsForUser(context.db.sql, request.user.userId);
    if (!first) throw new ApiError("FORBIDDEN", "You are not a member of any organization");
    return reply.redirect(`/p/${first.projectRef}/${first.environmentType}/runs`);
  });

  app.get<{ Querystring: { to?: string } }>("/switch", async (request, reply) => {
    const [ref, env] = String(request.query.to ?? "").split("/");
    if (!ref || !env || !/^proj_[a-z0-9]+$/.test(ref) || !/^[a-z]+$/.test(env)) return reply.redirect("/");
    return reply.redirect(`/p/${ref}/${env}/runs`);
  });

  // Live updates for the pages of one environment: "changed" events, at most four a second.
  app.get<{ Params: { ref: string; env: string } }>("/p/:ref/:env/live", async (request, reply) => {
    const scope = await scopeOf(request, reply);
    if (!scope) return reply;
    openLiveStream(request, reply, {
      name: "environment pages",
      subscribe: (wake) => [context.notifier.onChanges(scope.environment.environmentId, wake)],
      look: async () => ({}),
      coalesceMs: 250,
      closing: context.closing,
    });
  });

  await app.register(async (scope) => authPages(scope, context));
  await app.register(async (scope) => accountPages(scope, context));
  await app.register(async (scope) => runPages(scope, context, scopeOf));
  await app.register(async (scope) => tracePages(scope, context, scopeOf));
  await app.register(async (scope) => overviewPages(scope, context, scopeOf));
  await app.register(async (scope) => testRunPages(scope, context, scopeOf));
  await app.register(async (scope) => environmentPages(scope, context, scopeOf));
  await app.register(async (scope) => catalogPages(scope, context, scopeOf));
  await app.register(async (scope) => envvarPages(scope, context, scopeOf));
  await app.register(async (scope) => alertPages(scope, context, scopeOf));
  await app.register(async (scope) => teamPages(scope, context));
  await app.register(async (scope) => environmentsPages(scope, context));
  await app.register(async (scope) => ssoPages(scope, context));
  await app.register(async (scope) => deploymentPages(scope, context, scopeOf));
  await app.register(async (scope) => queryPages(scope, context, scopeOf));
  await app.register(async (scope) => environmentSettingsPages(scope, context, scopeOf));
}

