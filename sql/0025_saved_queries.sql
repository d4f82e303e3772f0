-- Saved queries of the dashboard's Query page: named SQL over the ratchet_api views, shared by every
-- member who may see the project (and only them). A name is unique in its project, so saving
-- again under the same name replaces the text.
create table ratchet.saved_queries (
  id uuid primary key,
  project_id uuid not null references ratchet.projects (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  query text not null check (length(query) between 1 and 100000),
  scope text not null default 'environment' check (scope in ('environment', 'project', 'organization')),
  period text check (length(period) <= 32),
  created_by uuid references ratchet.users (id) on delete set null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (project_id, name)
);
