// Single sign-on routes, registered only when RATCHET_OIDC_ISSUER is set: /auth/oidc sends the
// browser to the provider, /auth/oidc/callback signs in the account with the verified email the
// provider returned. What the flow needs in between (PKCE verifier, state, nonce) travels in a signed,
// HttpOnly cookie scoped to /auth/oidc, for ten minutes.
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { OidcError, OidcSignIn, type OidcPending } from "../../dashboard/oidc.ts";
import { hashSecret, newSecret, sessionCookie, sessionLifetimeMs } from "../../dashboard/sessions.ts";
import { sessionsInsert, usersFindByEmail } from "../../storage/users.ts";
import { render } from "./render.ts";

const pendingCookie = "ratchet_oidc";

export async function ssoPages(app: FastifyInstance, context: AppContext): Promise<void> {
  const settings = context.config.oidc;
  if (!settings) return;
  const { db, clock } = context;
  const sso = new OidcSignIn(settings, context.config.publicUrl);
  const secure = context.config.publicUrl.startsWith("https://");

  const refuse = (request: Parameters<typeof render>[0], reply: Parameters<typeof render>[1], error: string) =>
    render(request, reply.code(403), "login", { title: "Sign in", error, next: "/", sso: settings.label });

  app.get("/auth/oidc", async (request, reply) => {
    const { url, pending } = await sso.start();
    void reply.setCookie(pendingCookie, JSON.stringify(pending), { signed: true, httpOnly: true, sameSite: "lax", secure, path: "/auth/oidc", maxAge: 600 });
    return reply.redirect(url, 302);
  });

  app.get("/auth/oidc/callback", async (request, reply) => {
    const raw = request.cookies[pendingCookie];
    const unsigned = raw ? request.unsignCookie(raw) : null;
    void reply.clearCookie(pendingCookie, { path: "/auth/oidc" });
    if (!unsigned?.valid || unsigned.value === null) return refuse(request, reply, "The sign-in took too long or was started elsewhere. Try again.");
    let identity: { email: string };
    try {
      identity = await sso.finish(new URL(request.url, context.config.publicUrl), JSON.parse(unsigned.value) as OidcPending);
    } catch (error) {
      if (!(error instanceof OidcError)) throw error;
      request.log.warn({ err: error.message }, "single sign-on refused");
      return refuse(request, reply, "Single sign-on failed. Try again, or sign in with your password.");
    }
    const user = await usersFindByEmail(db.sql, identity.email);
    if (!user) return refuse(request, reply, `There is no Ratchet account for ${identity.email}: ask an admin for an invitation first.`);
    const token = newSecret();
    const now = clock.now();
    await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId: user.id, expiresAt: new Date(now.getTime() + sessionLifetimeMs) }, now);
    void reply.setCookie(sessionCookie, token, { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: sessionLifetimeMs / 1000 });
    return reply.redirect("/", 303);
  });
}
