// Public access tokens: the claims the SDK signs itself with a secret key, and tokens the server
// mints (for credentials that cannot sign). See server/auth/public-tokens.ts and docs/realtime.md.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { bearerToken } from "../../auth/authenticate.ts";
import { claimsForKey, mintPublicToken, validExpiration } from "../../auth/public-tokens.ts";

const scope = z.string().min(1).max(300).regex(/^[A-Za-z]+(:[^\s:]+){0,2}$/, 'scopes look like "read:runs:run_123"');

export async function authRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post("/api/v1/auth/jwt/claims", async (request) => {
    const environment = request.environment;
    return claimsForKey(context.db.sql, environment.environmentId, environment.apiKeyId, bearerToken(request)!);
  });

  routes.post(
    "/api/v1/auth/public-tokens",
    {
      schema: {
        body: z.object({
          scopes: z.array(scope).min(1, "a public token needs at least one scope").max(100),
          expirationTime: z.union([z.string().max(64), z.number()]).optional(),
          oneTimeUse: z.boolean().optional(),
          realtime: z.object({ skipColumns: z.array(z.string().max(64)).max(50).optional() }).loose().optional(),
        }),
      },
    },
    async (request) => {
      const { scopes, oneTimeUse, realtime } = request.body;
      const expiration = validExpiration(request.body.expirationTime, "body.expirationTime");
      const token = await mintPublicToken(context.db.sql, request.environment.environmentId, { scopes, oneTimeUse, realtime }, expiration, context.clock.now());
      return { token };
    },
  );
}
