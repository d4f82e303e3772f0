// What the runner learns of a host before and after a dump, without Docker: whether CRIU can dump a
// non-root task (the daemon's capability bounding set), CRIU's own cause for a refused dump, and the
// caps it is configured with.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { criuErrorLine, criuLogPath, explainCriuFailure } from "../server/checkpoints/criu-log.ts";
import { checkpointLimitsFromEnv, defaultCheckpointLimits } from "../server/checkpoints/limits.ts";
import { boundingSetLacksSysResource, criuCannotDumpUser, isNonRootUser } from "../server/checkpoints/task-user.ts";

// The tail of a real criu-dump.log of a uid-1000 container on a host without CAP_SYS_RESOURCE.
const dumpLog = `(00.111436) Dumping processes (pid: 22661 comm: MainThread)
(00.111453) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted
(00.192380) dumping /proc/22661/oom_score_adj
(00.192391) Error (criu/cr-dump.c:389): Can't get rlimit 0: Operation not permitted
(00.192393) ----------------------------------------
(00.192394) Error (criu/cr-dump.c:1584): Dump core (pid: 22661) failed with -1
(00.240494) Unfreezing tasks into 1
(00.240543) Error (criu/cr-dump.c:1975): Dumping FAILED.
`;
const status = (bounding: string) => `Name:\tdockerd\nCapInh:\t0000000000000000\nCapBnd:\t${bounding}\nCapAmb:\t0000000000000000\n`;

test("CRIU's specific error line is picked out of its log, past the summary lines", () => {
  assert.equal(criuErrorLine(dumpLog), "Error (criu/cr-dump.c:389): Can't get rlimit 0: Operation not permitted");
  assert.equal(criuErrorLine("(00.1) Dumping finished successfully\n"), null);
});

test("a Docker dump error names its log; the explained error carries CRIU's line, or stays as it was", async () => {
  const dir = await mkdtemp(join(tmpdir(), "criu-log-"));
  try {
    const log = join(dir, "criu-dump.log");
    await writeFile(log, dumpLog);
    const docker = new Error(`(HTTP code 500) server error - Cannot checkpoint container abc: runc did not terminate successfully: exit status 1: criu failed: type NOTIFY errno 0 path= ${log}: unknown `);
    assert.equal(criuLogPath(docker.message), log);
    const explained = await explainCriuFailure(docker);
    assert.equal(explained.message, `CRIU could not dump the container: Error (criu/cr-dump.c:389): Can't get rlimit 0: Operation not permitted (log: ${log})`);
    assert.equal(explained.cause, docker);
    const unreadable = new Error(`criu failed: type NOTIFY errno 0 path= ${join(dir, "gone.log")}: unknown`);
    assert.equal(await explainCriuFailure(unreadable), unreadable);
    const other = new Error("no such container");
    assert.equal(await explainCriuFailure(other), other);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a non-root task cannot be dumped where the daemon lacks CAP_SYS_RESOURCE; root can, and so can anyone elsewhere", () => {
  // Bit 24 cleared (a sandboxed VM), and a full set.
  assert.equal(boundingSetLacksSysResource(status("000001fffeffffff")), true);
  assert.equal(boundingSetLacksSysResource(status("000001ffffffffff")), false);
  assert.equal(boundingSetLacksSysResource("Name:\tdockerd\n"), false, "no set shown: nothing known, the dump is tried");
  for (const user of ["1000:1000", "1000", "node", "node:node"]) assert.equal(isNonRootUser(user), true, user);
  for (const user of ["0:0", "0", "root", "root:root", ""]) assert.equal(isNonRootUser(user), false, user);
  assert.match(criuCannotDumpUser("1000:1000", () => status("000001fffeffffff")) ?? "", /user 1000:1000 .*lacks CAP_SYS_RESOURCE.*RATCHET_DOCKER_USER=0:0/);
  assert.equal(criuCannotDumpUser("0:0", () => status("000001fffeffffff")), null);
  assert.equal(criuCannotDumpUser("1000:1000", () => status("000001ffffffffff")), null);
  assert.equal(criuCannotDumpUser("1000:1000", () => null), null, "the daemon not visible from here: the dump is tried");
});

test("the runner's checkpoint caps come from the environment in MiB; a bad value is refused by name", () => {
  assert.deepEqual(checkpointLimitsFromEnv({}), defaultCheckpointLimits);
  assert.deepEqual(checkpointLimitsFromEnv({ RATCHET_CHECKPOINT_MAX_MB: "64", RATCHET_CHECKPOINT_ENV_MAX_MB: "1024" }), {
    maxCheckpointBytes: 64 * 2 ** 20,
    maxEnvironmentBytes: 2 ** 30,
  });
  for (const bad of ["0", "-1", "1.5", "lots", "1e400"]) {
    assert.throws(() => checkpointLimitsFromEnv({ RATCHET_CHECKPOINT_MAX_MB: bad }), new RegExp(`^Error: RATCHET_CHECKPOINT_MAX_MB must be a whole number of MiB above 0, not "${bad.replace(".", "\\.")}"$`));
  }
  assert.throws(() => checkpointLimitsFromEnv({ RATCHET_CHECKPOINT_ENV_MAX_MB: "none" }), /RATCHET_CHECKPOINT_ENV_MAX_MB must be/);
});
