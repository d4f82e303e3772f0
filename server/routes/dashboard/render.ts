// Rendering dashboard pages, and what a page of one environment knows about where it is.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { DashboardEnvironment } from "../../storage/users.ts";
import { mayHandleSecrets } from "../../dashboard/permissions.ts";
import { when } from "../../dashboard/time-format.ts";
import { errorText } from "../../dashboard/error-text.ts";

export interface DashboardScope {
  environment: DashboardEnvironment;
  environments: DashboardEnvironment[];
  base: string;
}

const sections = [
  ["overview", "Overview"],
  ["runs", "Runs"],
  ["tasks", "Tasks"],
  ["deployments", "Deployments"],
  ["schedules", "Schedules"],
  ["batches", "Batches"],
  ["tokens", "Wait tokens"],
  ["queues", "Queues"],
  ["query", "Query"],
  ["envvars", "Variables"],
  ["alerts", "Alerts"],
  ["keys", "API keys"],
  ["settings", "Settings"],
] as const;

/** Pages of the user and the organization, linked from every page. */
const settings = [
  ["/environments", "Environments"],
  ["/settings/projects", "Projects"],
  ["/settings/members", "Members"],
  ["/settings/password", "Password"],
] as const;

/** Sections a user without prod access does not get in prod. */
const secretSections = new Set<string>(["keys", "envvars"]);

export function environmentLabel(environment: DashboardEnvironment): string {
  return `${environment.projectName} · ${environment.environmentType}`;
}

/** Renders a page: the whole layout, or only the page for an htmx request (not boosted). */
export async function render(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown> & { title: string },
  scope?: DashboardScope,
  section?: string,
): Promise<FastifyReply> {
  const csrf = reply.generateCsrf();
  const fragment = request.headers["hx-request"] === "true" && request.headers["hx-boosted"] !== "true";
  const settingsItems = settings.map(([href, label]) => ({ href, label, current: href === section }));
  const nav = scope
    ? {
        user: request.user?.email ?? "",
        items: sections
          .filter(([path]) => mayHandleSecrets(scope.environment) || !secretSections.has(path))
          .map(([path, label]) => ({ href: `${scope.base}/${path}`, label, current: path === section })),
        settings: settingsItems,
        environments: scope.environments.map((environment) => ({
          value: `${environment.projectRef}/${environment.environmentType}`,
          label: environmentLabel(environment),
          current: environment.environmentId === scope.environment.environmentId,
        })),
      }
    : request.user
      ? { user: request.user.email, items: [{ href: "/", label: "Runs", current: false }], settings: settingsItems, environments: [] }
      : null;
  void reply.header("cache-control", "no-store");
  return reply.view(`pages/${template}.eta`, { ...data, csrf, nav, section, base: scope?.base ?? "", when, errorText }, fragment ? {} : { layout: "layout.eta" });
}

export type ScopeOf = (request: FastifyRequest<{ Params: { ref: string; env: string } }>, reply: FastifyReply) => Promise<DashboardScope | null>;
