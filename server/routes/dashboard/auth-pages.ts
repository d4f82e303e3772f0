// Sign-in pages: the one-time setup link that creates the first admin, sign in (rate-limited per
// address, and locked per account after failures: dashboard/sign-in-lockout.ts), sign out.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { hashPassword, verifyPassword } from "../../dashboard/passwords.ts";
import { safeNext } from "../../dashboard/safe-next.ts";
import { reserveSignInAttempt, signInSucceeded, waitText } from "../../dashboard/sign-in-lockout.ts";
import { hashSecret, newSecret, sessionCookie, sessionLifetimeMs } from "../../dashboard/sessions.ts";
import { sessionsDelete, sessionsInsert, setupTokensConsume, setupTokensValid, usersFindByEmail, usersInsertAdmin } from "../../storage/users.ts";
import { render } from "./render.ts";

type Form = Record<string, string | undefined>;

export async function authPages(app: FastifyInstance, context: AppContext): Promise<void> {
  const { db, clock } = context;
  const secure = context.config.publicUrl.startsWith("https://");

  const signIn = async (reply: FastifyReply, userId: string) => {
    const token = newSecret();
    const now = clock.now();
    await sessionsInsert(db.sql, { tokenHash: hashSecret(token), userId, expiresAt: new Date(now.getTime() + sessionLifetimeMs) }, now);
    void reply.setCookie(sessionCookie, token, { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: sessionLifetimeMs / 1000 });
  };

  app.get<{ Querystring: { token?: string } }>("/setup", async (request, reply) => {
    const token = request.query.token ?? "";
    if (!(await setupTokensValid(db.sql, hashSecret(token), clock.now()))) {
      return reply.code(404).type("text/plain").send("This setup link is invalid, used or expired.");
    }
    return render(request, reply, "setup", { title: "Set up Ratchet", token });
  });

  app.post<{ Body: Form }>("/setup", { preHandler: app.csrfProtection }, async (request, reply) => {
    const { token = "", email = "", password = "", name = "" } = request.body ?? {};
    const fail = (error: string) => render(request, reply.code(400), "setup", { title: "Set up Ratchet", token, error });
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) return fail("Enter a valid email address.");
    if (password.length < 10) return fail("The password needs at least 10 characters.");
    const passwordHash = await hashPassword(password);
    const userId = await db.sql.begin(async (tx) => {
      if (!(await setupTokensConsume(tx, hashSecret(token), clock.now()))) return null;
      return usersInsertAdmin(tx, { email, name: name.slice(0, 200), passwordHash });
    });
    if (!userId) return reply.code(404).type("text/plain").send("This setup link is invalid, used or expired.");
    await signIn(reply, userId);
    return reply.redirect("/", 303);
  });

  app.get<{ Querystring: { next?: string } }>("/login", async (request, reply) => {
    if (request.user) return reply.redirect(safeNext(request.query.next));
    return render(request, reply, "login", { title: "Sign in", next: safeNext(request.query.next), sso: context.config.oidc?.label });
  });

  app.post<{ Body: Form; Querystring: { next?: string } }>(
    "/login",
    { preHandler: app.csrfProtection, config: { rateLimit: { max: 10, timeWindow: "1 minute" } } },
    async (request, reply) => {
      const { email = "", password = "" } = request.body ?? {};
      // The form carries `next` from the page's query string; a POST with it in its own query works too.
      const next = safeNext(request.body?.next ?? request.query.next);
      const refuse = (code: number, error: string) => render(request, reply.code(code), "login", { title: "Sign in", error, email, next, sso: context.config.oidc?.label });
      // Text Postgres cannot hold is no account's address: wrong, without asking the database.
      if (email.length > 320 || email.includes("\u0000") || !email.isWellFormed()) return refuse(401, "Wrong email or password.");
      const now = clock.now();
      const attempt = await reserveSignInAttempt(db, email, now);
      if (!attempt.allowed) {
        // The same for every address, with an account or not: it tells nothing about which exist.
        return refuse(429, `Too many failed sign-ins for this email address. Try again in ${waitText(attempt.retryAt, now)}.`);
      }
      const user = await usersFindByEmail(db.sql, email);
      // Verify against a dummy hash when the user does not exist, so timing does not reveal it.
      const valid = user ? await verifyPassword(password, user.passwordHash) : (await verifyPassword(password, dummyHash), false);
      if (!user || !valid) return refuse(401, "Wrong email or password.");
      await signInSucceeded(db, email);
      await signIn(reply, user.id);
      return reply.redirect(next, 303);
    },
  );

  app.post("/logout", { preHandler: app.csrfProtection }, async (request, reply) => {
    const token = request.cookies[sessionCookie];
    if (token) await sessionsDelete(db.sql, hashSecret(token));
    void reply.clearCookie(sessionCookie, { path: "/" });
    return reply.redirect("/login", 303);
  });
}

const dummyHash = await hashPassword("not a real password");
