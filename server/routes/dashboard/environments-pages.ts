// The environments overview (/environments): every project and environment the signed-in user may
// see, each with its runs finished in the last 24 hours by status and its runs queued and running
// now, linked to that environment's overview. One query for all environments.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { ApiError } from "../../errors.ts";
import { environmentsActivity } from "../../storage/environments-overview.ts";
import { environmentsForUser } from "../../storage/users.ts";
import { render } from "./render.ts";

const day = 24 * 60 * 60 * 1000;

export async function environmentsPages(app: FastifyInstance, context: AppContext): Promise<void> {
  const { db, clock } = context;

  app.get("/environments", async (request, reply) => {
    if (!request.user) return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
    const environments = await environmentsForUser(db.sql, request.user.userId);
    if (environments.length === 0) throw new ApiError("FORBIDDEN", "You are not a member of any organization");
    const to = clock.now();
    const activity = await environmentsActivity(
      context.reads.for(request).sql,
      environments.map((environment) => environment.environmentId),
      { from: new Date(to.getTime() - day), to: new Date(to.getTime() + 1000) },
    );
    const byId = new Map(activity.map((row) => [row.environmentId, row]));
    const projects = new Map<string, { ref: string; name: string; environments: unknown[] }>();
    for (const environment of environments) {
      const project = projects.get(environment.projectId) ?? { ref: environment.projectRef, name: environment.projectName, environments: [] };
      projects.set(environment.projectId, project);
      const row = byId.get(environment.environmentId);
      const base = `/p/${environment.projectRef}/${environment.environmentType}`;
      project.environments.push({
        type: environment.environmentType,
        base,
        finished: (row?.finished ?? []).map((entry) => ({ ...entry, href: `${base}/runs?status=${entry.status}&period=1d` })),
        total: (row?.finished ?? []).reduce((sum, entry) => sum + entry.count, 0),
        queued: row?.queued ?? 0,
        running: row?.running ?? 0,
      });
    }
    return render(request, reply, "environments", { title: "Environments", projects: [...projects.values()] }, undefined, "/environments");
  });
}
