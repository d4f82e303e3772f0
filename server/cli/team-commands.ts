// `ratchet admin projects create` and `ratchet admin users reset-password`: what an operator does from a shell,
// straight against the database (like `keys create`), for instance when the server sends no email.
import { parseArgs } from "node:util";
import { pino } from "pino";
import type { Config } from "../config.ts";
import { withDatabase } from "../database.ts";
import { createProject, passwordResetLink } from "../engine/teams.ts";
import { ApiError } from "../errors.ts";
import { organizationsFindBySlug, organizationsList } from "../storage/teams.ts";
import { tenancyBootstrap } from "../storage/tenancy.ts";
import { UsageError } from "./errors.ts";

const logger = () => pino({ level: "warn" }, pino.destination(2));

export async function projectsCommand(config: Config, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { name: { type: "string" }, org: { type: "string" } } });
  if (action !== "create" || !values.name) throw new UsageError("Usage: ratchet admin projects create --name <name> [--org <slug>]");
  const name = values.name;
  const created = await withDatabase(config, logger(), async (db) => {
    await tenancyBootstrap(db.sql);
    const organizations = await organizationsList(db.sql);
    const organization = values.org ? await organizationsFindBySlug(db.sql, values.org) : organizations.length === 1 ? organizations[0]! : null;
    if (!organization) {
      throw new UsageError(values.org ? `No organization ${values.org}` : `Choose an organization with --org (${organizations.map((row) => row.slug).join(", ")})`);
    }
    try {
      return await createProject(db, { organizationId: organization.id, name });
    } catch (error) {
      if (error instanceof ApiError) throw new UsageError(error.message);
      throw error;
    }
  });
  process.stdout.write(`${created.project.ref}\n`);
  console.error(`Created ${created.project.name} (${created.project.ref}) with dev, staging, prod and preview environments.`);
  console.error(`Its dev secret key (shown once): ${created.devKey}`);
  return 0;
}

export async function usersCommand(config: Config, args: string[]): Promise<number> {
  const [action, email] = args;
  if (action !== "reset-password" || !email) throw new UsageError("Usage: ratchet admin users reset-password <email>");
  const link = await withDatabase(config, logger(), (db) => passwordResetLink({ db, now: () => new Date(), publicUrl: config.publicUrl }, email));
  if (!link) {
    console.error(`No account with the address ${email}.`);
    return 1;
  }
  process.stdout.write(`${link}\n`);
  console.error("A one-time link, valid for 1 hour: whoever opens it chooses the account's new password, and every session of the account ends.");
  return 0;
}
