// `ratchet login`, `logout`, `whoami`, `projects` (list, create) and `keys`: a user's commands against a running
// server, through its management routes and a personal access token. None opens a database.
import { password as promptPassword, isCancel } from "@clack/prompts";
import { environmentTypes } from "../storage/tenancy.ts";
import { CliError, UsageError } from "./errors.ts";
import { localServerUrl } from "./server-url.ts";
import { profilePath, removeProfile, writeProfile } from "./profile.ts";
import { remoteFromProfile, remoteRequest, type Remote } from "./remote.ts";

interface Me {
  user: { id: string; email: string; name: string };
}
interface ProjectItem {
  ref: string;
  name: string;
  organization: string;
  role: string;
  environments: string[];
}
interface KeyItem {
  id: string;
  hint: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export async function loginCommand(options: { apiUrl?: string; token?: string }): Promise<number> {
  const apiUrl = (options.apiUrl || process.env.RATCHET_API_URL || localServerUrl() || "http://localhost:3030").replace(/\/+$/, "");
  let token = options.token || process.env.RATCHET_ACCESS_TOKEN;
  if (!token) {
    if (!process.stdin.isTTY) {
      throw new UsageError(`ratchet login needs a personal access token: pass --token or set RATCHET_ACCESS_TOKEN (create one at ${apiUrl}/account/tokens).`);
    }
    const answer = await promptPassword({ message: `Personal access token (from ${apiUrl}/account/tokens)` });
    if (isCancel(answer) || !answer) throw new UsageError("Login canceled: no token given.");
    token = answer.trim();
  }
  const me = await remoteRequest<Me>(apiUrl, token, "GET", "/api/v1/me");
  const path = await writeProfile({ apiUrl, token, email: me.user.email });
  console.error(`Logged in to ${apiUrl} as ${me.user.email}. The profile is saved in ${path}.`);
  return 0;
}

export async function logoutCommand(): Promise<number> {
  const removed = await removeProfile();
  console.error(removed ? `Logged out: removed ${profilePath()}.` : "Not logged in: there was no profile to remove.");
  return 0;
}

export async function whoamiCommand(options: { apiUrl?: string }): Promise<number> {
  const remote = await remoteFromProfile(options);
  const me = await remote.request<Me>("GET", "/api/v1/me");
  const projects = await remote.request<{ data: ProjectItem[] }>("GET", "/api/v1/projects");
  process.stdout.write(`${me.user.email} at ${remote.apiUrl}\n`);
  for (const project of projects.data) {
    process.stdout.write(`  ${project.ref}  ${project.name} (${project.organization}, ${project.role})  ${project.environments.join(", ")}\n`);
  }
  if (projects.data.length === 0) process.stdout.write("  no projects\n");
  return 0;
}

export async function projectsCommand(options: { apiUrl?: string }): Promise<number> {
  const remote = await remoteFromProfile(options);
  const projects = await remote.request<{ data: ProjectItem[] }>("GET", "/api/v1/projects");
  const lines = projects.data.map((project) => `${project.ref}  ${project.name}  ${project.organization}  ${project.role}  ${project.environments.join(",")}`);
  process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : "No projects.\n");
  return 0;
}

export async function projectsCreateCommand(options: { name: string; org?: string; apiUrl?: string }): Promise<number> {
  const remote = await remoteFromProfile(options);
  const created = await remote.request<{ ref: string; name: string; organization: string; devKey: string }>("POST", "/api/v1/projects", {
    name: options.name,
    ...(options.org === undefined ? {} : { organization: options.org }),
  });
  process.stdout.write(`${created.ref}\n`);
  console.error(`Created ${created.name} (${created.ref}) in ${created.organization} with dev, staging, prod and preview environments.`);
  console.error(`Its dev secret key (shown once): ${created.devKey}`);
  return 0;
}

function checkEnvironment(env: string | undefined, command: string): string {
  if (!env || !(environmentTypes as string[]).includes(env)) throw new UsageError(`${command} needs --env with one of: ${environmentTypes.join(", ")}.`);
  return env;
}

/** The project named by --project, or the only one the user may see. */
async function chooseProject(remote: Remote, ref: string | undefined): Promise<ProjectItem> {
  const projects = (await remote.request<{ data: ProjectItem[] }>("GET", "/api/v1/projects")).data;
  if (ref !== undefined) {
    const project = projects.find((candidate) => candidate.ref === ref);
    if (!project) throw new UsageError(`No project ${ref} that you may see: pick one of ${projects.map((p) => p.ref).join(", ") || "(none)"} with --project.`);
    return project;
  }
  if (projects.length === 1) return projects[0]!;
  if (projects.length === 0) throw new CliError("You are not a member of any project on this server: ask an admin to add you.");
  throw new UsageError(`You may see ${projects.length} projects: choose one with --project (${projects.map((p) => p.ref).join(", ")}).`);
}

const keysPath = (project: string, env: string) => `/api/v1/projects/${encodeURIComponent(project)}/environments/${env}/keys`;

export async function keysCreateCommand(options: { env?: string; project?: string; name?: string; apiUrl?: string }): Promise<number> {
  const env = checkEnvironment(options.env, "keys create");
  const remote = await remoteFromProfile(options);
  const project = await chooseProject(remote, options.project);
  const created = await remote.request<{ id: string; key: string }>("POST", keysPath(project.ref, env), { name: options.name ?? "" });
  process.stdout.write(`${created.key}\n`);
  console.error(`Created ${created.id} for ${project.ref}/${env}. Keep it secret: it is not stored and cannot be shown again.`);
  return 0;
}

export async function keysListCommand(options: { env?: string; project?: string; apiUrl?: string }): Promise<number> {
  const remote = await remoteFromProfile(options);
  const project = await chooseProject(remote, options.project);
  const envs = options.env ? [checkEnvironment(options.env, "keys list")] : project.environments;
  const lines: string[] = [];
  for (const env of envs) {
    const keys = (await remote.request<{ data: KeyItem[] }>("GET", keysPath(project.ref, env))).data;
    for (const key of keys) {
      lines.push(
        [
          key.id,
          env.padEnd(7),
          key.hint.padEnd(18),
          key.revokedAt ? `revoked ${key.revokedAt}` : "active",
          `created ${key.createdAt}`,
          key.lastUsedAt ? `last used ${key.lastUsedAt}` : "never used",
          key.name,
        ].join("  "),
      );
    }
  }
  process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : "No keys.\n");
  return 0;
}

export async function keysRevokeCommand(keyId: string, options: { env?: string; project?: string; apiUrl?: string }): Promise<number> {
  const env = checkEnvironment(options.env, "keys revoke");
  const remote = await remoteFromProfile(options);
  const project = await chooseProject(remote, options.project);
  await remote.request("DELETE", `${keysPath(project.ref, env)}/${encodeURIComponent(keyId)}`);
  console.error(`Revoked ${keyId}.`);
  return 0;
}
