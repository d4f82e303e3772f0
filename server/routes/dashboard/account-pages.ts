// The signed-in user's own page: personal access tokens for the CLI (`ratchet login`), created with
// a CSRF-protected form and shown once, listed and revocable.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { issueAccessToken } from "../../auth/access-tokens.ts";
import { ApiError } from "../../errors.ts";
import { accessTokensList, accessTokensRevoke } from "../../storage/access-tokens.ts";
import { environmentsForUser } from "../../storage/users.ts";
import { render } from "./render.ts";

const shown = (date: Date | null | undefined) => date?.toISOString().slice(0, 16).replace("T", " ");

export async function accountPages(app: FastifyInstance, context: AppContext): Promise<void> {
  const { db, clock } = context;

  const tokensPage = async (request: FastifyRequest, reply: FastifyReply, newToken?: string) => {
    const user = request.user!;
    const [environments, tokens] = await Promise.all([environmentsForUser(db.sql, user.userId), accessTokensList(db.sql, user.userId)]);
    const first = environments[0];
    const scope = first ? { environment: first, environments, base: `/p/${first.projectRef}/${first.environmentType}` } : undefined;
    return render(
      request,
      reply,
      "access-tokens",
      {
        title: "Access tokens",
        newToken,
        serverUrl: context.config.publicUrl,
        tokens: tokens.map((token) => ({
          publicId: token.publicId,
          tokenHint: token.tokenHint,
          name: token.name,
          createdAt: shown(token.createdAt),
          lastUsedAt: shown(token.lastUsedAt),
          revokedAt: shown(token.revokedAt),
        })),
      },
      scope,
      "access-tokens",
    );
  };

  const signedIn = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    if (request.user) return true;
    await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
    return false;
  };

  app.get("/account/tokens", async (request, reply) => {
    if (!(await signedIn(request, reply))) return reply;
    return tokensPage(request, reply);
  });

  app.post<{ Body: { name?: string } }>("/account/tokens", { preHandler: app.csrfProtection }, async (request, reply) => {
    if (!(await signedIn(request, reply))) return reply;
    const issued = await issueAccessToken(db.sql, { userId: request.user!.userId, name: (request.body?.name ?? "").trim() });
    // Shown once, in this response only: it is not stored.
    return tokensPage(request, reply, issued.token);
  });

  app.post<{ Params: { tokenId: string } }>("/account/tokens/:tokenId/revoke", { preHandler: app.csrfProtection }, async (request, reply) => {
    if (!(await signedIn(request, reply))) return reply;
    if (!(await accessTokensRevoke(db.sql, request.user!.userId, request.params.tokenId, clock.now()))) {
      throw new ApiError("NOT_FOUND", "No such active token of yours");
    }
    return reply.redirect("/account/tokens", 303);
  });
}
