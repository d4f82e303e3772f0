// GET /api/v1/whoami: which organization, project and environment a key acts in. The CLI and the
// worker use it to check a key before they start work.
import type { FastifyInstance } from "fastify";

export async function whoamiRoutes(app: FastifyInstance): Promise<void> {
  app.get("/api/v1/whoami", async (request) => {
    const environment = request.environment;
    return {
      organization: { id: environment.organizationId, slug: environment.organizationSlug },
      project: { id: environment.projectId, ref: environment.projectRef, name: environment.projectName },
      environment: { id: environment.environmentId, type: environment.environmentType, slug: environment.environmentSlug },
    };
  });
}
