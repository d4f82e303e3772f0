// How an environment's run retention reads to people: its own value, the server's default and the
// one in force, for the API (GET/PUT /api/v1/run-retention) and the environment settings page.
export const runRetentionBounds = { min: 1, max: 36_500 } as const;

export interface RunRetentionSetting {
  /** The environment's own number of days; null: the server-wide default applies. */
  days: number | null;
  /** RATCHET_RUN_RETENTION_DAYS; 0 keeps runs forever. */
  defaultDays: number;
  /** The days in force; null: finished runs are kept forever. */
  effectiveDays: number | null;
}

export function runRetentionSetting(days: number | null, defaultDays: number): RunRetentionSetting {
  const effective = days ?? defaultDays;
  return { days, defaultDays, effectiveDays: effective > 0 ? effective : null };
}
