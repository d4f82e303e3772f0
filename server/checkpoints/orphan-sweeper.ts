// Collects checkpoint large objects no row references (a runner that died while streaming one in
// leaves nothing behind: its transaction rolls back; this catches objects left by hand or by older
// code). Every server runs it; the advisory lock in checkpointsSweepOrphans lets one replica sweep
// at a time and the others skip that pass.
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { PeriodicJob } from "../engine/periodic-job.ts";
import { checkpointsSweepOrphans } from "../storage/checkpoints.ts";

const sweepIntervalMs = 10 * 60_000;

export class CheckpointOrphanSweeper extends PeriodicJob {
  constructor(db: Db, logger: Logger, intervalMs = sweepIntervalMs) {
    super(
      async () => {
        const unlinked = await checkpointsSweepOrphans(db.sql);
        if (unlinked) logger.info({ unlinked }, "orphaned checkpoint large objects unlinked");
      },
      { intervalMs, logger, failure: "checkpoint orphan sweep failed; retrying" },
    );
  }
}
