// Creating a secret key for an environment of a project: the one place a plaintext key exists, and
// only long enough to hand it to the caller.
import type { Sql } from "../db/client.ts";
import type { EnvironmentType } from "../db/tables.ts";
import { newApiKeyPublicId } from "../ids.ts";
import { apiKeysInsert } from "../storage/api-keys.ts";
import { environmentsFindByProjectAndType, projectsList, type ProjectRow } from "../storage/tenancy.ts";
import { generateSecretKey, hashSecretKey, secretKeyHint } from "./secret-keys.ts";

export class KeyIssueError extends Error {
  override name = "KeyIssueError";
}

/** The project named by `ref`, or the only project when no ref is given. */
export async function resolveProject(sql: Sql, ref?: string): Promise<ProjectRow> {
  const projects = await projectsList(sql);
  if (ref !== undefined) {
    const project = projects.find((candidate) => candidate.ref === ref);
    if (!project) throw new KeyIssueError(`No project with ref ${ref}. Projects: ${projects.map((p) => p.ref).join(", ") || "none"}`);
    return project;
  }
  if (projects.length === 1) return projects[0]!;
  if (projects.length === 0) throw new KeyIssueError("There is no project yet: start Ratchet once to create the default project.");
  throw new KeyIssueError(`There are ${projects.length} projects; choose one with --project (${projects.map((p) => p.ref).join(", ")}).`);
}

export interface IssuedKey {
  key: string;
  publicId: string;
  projectRef: string;
  environment: EnvironmentType;
}

export async function issueSecretKey(
  sql: Sql,
  options: { environment: EnvironmentType; projectRef?: string; name?: string },
): Promise<IssuedKey> {
  const project = await resolveProject(sql, options.projectRef);
  const environment = await environmentsFindByProjectAndType(sql, project.id, options.environment);
  if (!environment) throw new KeyIssueError(`Project ${project.ref} has no ${options.environment} environment.`);
  const key = generateSecretKey(options.environment);
  const publicId = newApiKeyPublicId();
  await apiKeysInsert(sql, {
    publicId,
    environmentId: environment.id,
    keyHash: hashSecretKey(key),
    keyHint: secretKeyHint(key),
    name: options.name ?? "",
  });
  return { key, publicId, projectRef: project.ref, environment: options.environment };
}
