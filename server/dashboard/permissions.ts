// Who may do what on the dashboard, in one place. Organization admins may do everything in their
// organization; members see the projects they were given, and prod's keys and variables only when
// they were given prod access.
import type { DashboardEnvironment } from "../storage/users.ts";

/** Whether the user may see and make keys, and see and change variables, of this environment. */
export function mayHandleSecrets(environment: DashboardEnvironment): boolean {
  return environment.environmentType !== "prod" || environment.prodAccess;
}
