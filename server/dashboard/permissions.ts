// Who may do what, in one place, for the dashboard and the management routes alike (docs/teams.md,
// "Roles"). Organization admins may do everything in their organization; members see the projects
// they were given, and see, make and revoke keys and variables of those projects' environments
// except prod's, which need prod access. Only admins create projects and manage members.
import type { Role } from "../storage/teams.ts";
import type { DashboardEnvironment } from "../storage/users.ts";

/** Whether the user may see, make and revoke keys, and see and change variables, of this environment. */
export function mayHandleSecrets(environment: DashboardEnvironment): boolean {
  return environment.environmentType !== "prod" || environment.prodAccess;
}

/** Whether the user may create projects, and invite, change and remove members, in an organization. */
export function mayAdministerOrganization(role: Role): boolean {
  return role === "admin";
}
