// The one query behind realtime hints: a NOTIFY per (channel, environment), sent in one statement.
import type { Sql } from "../db/client.ts";

export async function notifyEnvironments(sql: Sql, notifications: Array<{ channel: string; environmentIds: string[] }>): Promise<void> {
  await sql`
    select pg_notify(n.channel, n.environment_id)
    from unnest(
      ${notifications.flatMap(({ channel, environmentIds }) => environmentIds.map(() => channel))}::text[],
      ${notifications.flatMap(({ environmentIds }) => environmentIds)}::text[]
    ) as n(channel, environment_id)`;
}
