// Kysely's view of the schema, for the queries built dynamically (lists and filters). Keep in step
// with sql/ (sql/schema.sql is the readable whole).
import type { ColumnType, Generated } from "kysely";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface OrganizationsTable {
  id: Generated<string>;
  slug: string;
  name: string;
  created_at: CreatedAt;
}

export interface ProjectsTable {
  id: Generated<string>;
  organization_id: string;
  ref: string;
  slug: string;
  name: string;
  created_at: CreatedAt;
}

export type EnvironmentType = "dev" | "staging" | "prod" | "preview";

export interface EnvironmentsTable {
  id: Generated<string>;
  project_id: string;
  type: EnvironmentType;
  slug: string;
  concurrency_limit: Generated<number>;
  paused: Generated<boolean>;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: Generated<string>;
  public_id: string;
  environment_id: string;
  key_hash: Buffer;
  key_hint: string;
  name: Generated<string>;
  created_at: CreatedAt;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface Database {
  "ratchet.organizations": OrganizationsTable;
  "ratchet.projects": ProjectsTable;
  "ratchet.environments": EnvironmentsTable;
  "ratchet.api_keys": ApiKeysTable;
  "ratchet.runs": RunsTable;
}

/** The run record, as far as the dynamic list queries need to know it. */
export interface RunsTable {
  id: string;
  environment_id: string;
  task_identifier: string;
  queue_name: string;
  status: string;
  tags: string[];
  worker_version: string | null;
  machine: string | null;
  batch_id: string | null;
  is_test: boolean;
  idempotency_key: string | null;
  schedule_id: string | null;
  created_at: Date;
  [column: string]: unknown;
}
