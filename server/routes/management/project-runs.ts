// GET /api/v1/projects/{ref}/runs, the official SDK's runs.list(projectRef, …): the run list across
// the environments of one project, narrowed by `filter[env]`. As on Trigger.dev it takes a personal
// access token (the CLI's `ratchet login`), not a secret key, and reads the environments the token's
// user may see in the dashboard; a project they are not given is a 404, as if it did not exist.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { limits } from "../../api/limits.ts";
import { keysetPage } from "../../api/pagination.ts";
import { listRunItem } from "../../api/run-presenter.ts";
import { csvList, listRunsQuery, runListCursors, runListFilters } from "../../api/run-list-query.ts";
import { ApiError } from "../../errors.ts";
import { toPublicId } from "../../ids.ts";
import { runsList } from "../../storage/run-list.ts";
import { environmentsForUser } from "../../storage/users.ts";

export async function projectRunRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    "/api/v1/projects/:ref/runs",
    { schema: { params: z.object({ ref: z.string().min(1).max(100) }), querystring: listRunsQuery.extend({ "filter[env]": csvList.optional() }) } },
    async (request) => {
      const visible = await environmentsForUser(context.db.sql, request.accessUser.userId);
      let environments = visible.filter((environment) => environment.projectRef === request.params.ref);
      if (environments.length === 0) throw new ApiError("NOT_FOUND", `No project ${request.params.ref} that you may see`);
      const wanted = request.query["filter[env]"];
      if (wanted?.length) {
        const known = (name: string) => environments.some((environment) => environment.environmentSlug === name || environment.environmentType === name);
        const unknown = wanted.find((name) => !known(name));
        if (unknown !== undefined) throw new ApiError("VALIDATION_FAILED", `query.filter[env]: the project has no environment ${unknown}`);
        environments = environments.filter((environment) => wanted.includes(environment.environmentSlug) || wanted.includes(environment.environmentType));
      }
      const size = request.query["page[size]"] ?? limits.pageSizeDefault;
      const { after, before } = runListCursors(request.query);
      const rows = await runsList(
        context.db.kysely,
        environments.map((environment) => environment.environmentId),
        runListFilters(request.query, context.clock.now()),
        { size, after, before },
      );
      const { page, pagination } = keysetPage(rows, { size, after, before }, (run) => toPublicId("run", run.id));
      const slugs = new Map(environments.map((environment) => [environment.environmentId, environment.environmentSlug]));
      return { data: page.map((run) => listRunItem(run, { id: run.environmentId, slug: slugs.get(run.environmentId) ?? "" })), pagination };
    },
  );
}
