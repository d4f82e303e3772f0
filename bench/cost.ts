// What a drain costs, read from /proc (Linux): CPU seconds of a process tree (Postgres: the postmaster
// and its children; Ratchet's worker and its attempt processes) and resident memory.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type postgres from "postgres";

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, seconds. */
  cpu: number;
  /** cutime + cstime: children that exited and were waited for, seconds. */
  childrenCpu: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces: the fields after it are space-separated.
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 of proc(5): ppid is field 4, utime..cstime are fields 14..17.
  const at = (field: number) => Number(fields[field - 3]);
  return { pid, comm, ppid: at(4), cpu: (at(14) + at(15)) / ticksPerSecond, childrenCpu: (at(16) + at(17)) / ticksPerSecond };
}

/** The process and all its descendants. */
function tree(rootPid: number): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  let root: ProcStat | null = null;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    if (stat.pid === rootPid) root = stat;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(stat);
    children.set(stat.ppid, siblings);
  }
  if (!root) return [];
  const out: ProcStat[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const next = stack.pop()!;
    out.push(next);
    stack.push(...(children.get(next.pid) ?? []));
  }
  return out;
}

/**
 * CPU seconds used so far by a process tree: every live process in it, plus what the root collected
 * from children that have exited (Postgres backends of closed connections, attempt processes).
 */
function treeCpuSeconds(rootPid: number): number {
  const processes = tree(rootPid);
  if (processes.length === 0) return Number.NaN;
  return processes.reduce((sum, stat) => sum + stat.cpu, 0) + processes[0]!.childrenCpu;
}

/** Resident memory of one process, bytes (VmRSS); NaN once it has gone. */
function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Proportional memory of a process and all its descendants, bytes: Pss from smaps_rollup, where a
 * page shared by n processes counts 1/n in each (the node binary's pages, for instance), so the sum
 * is what the tree occupies.
 */
function treePssBytes(rootPid: number): number {
  const processes = tree(rootPid);
  if (processes.length === 0) return Number.NaN;
  return processes.reduce((sum, stat) => {
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${stat.pid}/smaps_rollup`, "utf8"));
      return sum + (match ? Number(match[1]) * 1024 : 0);
    } catch {
      return sum;
    }
  }, 0);
}

/** Each process of a tree with its resident and proportional memory (bytes), the root first. */
export function processTreeMemory(rootPid: number): Array<{ pid: number; rssBytes: number; pssBytes: number }> {
  return tree(rootPid).map((stat) => {
    let pssBytes = Number.NaN;
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${stat.pid}/smaps_rollup`, "utf8"));
      if (match) pssBytes = Number(match[1]) * 1024;
    } catch {
      // gone meanwhile
    }
    return { pid: stat.pid, rssBytes: rssBytes(stat.pid), pssBytes };
  });
}

/**
 * The postmaster's pid when the database runs on this machine and its processes are visible here:
 * the parent of this connection's backend. Null otherwise (a remote DATABASE_URL, or a container
 * whose processes this one cannot see), and Postgres CPU is then reported as n/a.
 */
export async function findPostmaster(url: string, sql: postgres.Sql): Promise<number | null> {
  const host = new URL(url).hostname;
  if (!["localhost", "127.0.0.1", "[::1]", ""].includes(host)) return null;
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const backend = readStat(row!.pid);
  if (!backend?.comm.startsWith("postgres")) return null;
  const postmaster = readStat(backend.ppid);
  return postmaster?.comm.startsWith("postgres") ? postmaster.pid : null;
}

export interface CostSample {
  /** Postgres CPU seconds over the interval (NaN when Postgres is not local). */
  postgresCpu: number;
  /** CPU seconds of the system's own processes: this process, plus any child tree given. */
  appCpu: number;
  /** Highest memory seen, bytes: this process's RSS; each watched process's RSS, and the PSS of it with its descendants. */
  peakRss: { self: number; watched: Array<{ own: number; tree: number }> };
}

/**
 * Measures from now until `stop()`: CPU by difference, memory as the peak of samples taken every
 * 250 ms. `watch` lists pids whose tree counts as the system's own (Ratchet's worker).
 */
export function startCostMeter(postmasterPid: number | null, watch: number[] = []): { stop(): CostSample } {
  const pgBefore = postmasterPid === null ? Number.NaN : treeCpuSeconds(postmasterPid);
  const selfBefore = process.cpuUsage();
  const watchedBefore = watch.map(treeCpuSeconds);
  const peakRss = { self: 0, watched: watch.map(() => ({ own: 0, tree: 0 })) };
  const sample = () => {
    peakRss.self = Math.max(peakRss.self, process.memoryUsage().rss);
    watch.forEach((pid, i) => {
      const peak = peakRss.watched[i]!;
      peak.own = Math.max(peak.own, rssBytes(pid));
      peak.tree = Math.max(peak.tree, treePssBytes(pid));
    });
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const self = process.cpuUsage(selfBefore);
      const watched = watch.reduce((sum, pid, i) => sum + (treeCpuSeconds(pid) - watchedBefore[i]!), 0);
      return {
        postgresCpu: postmasterPid === null ? Number.NaN : treeCpuSeconds(postmasterPid) - pgBefore,
        appCpu: (self.user + self.system) / 1e6 + watched,
        peakRss,
      };
    },
  };
}
