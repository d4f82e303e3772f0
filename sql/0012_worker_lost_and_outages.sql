-- Two facts the sweepers need so that a lost worker is noticed in seconds and a database outage
-- does not count against the runs that were executing during it.

-- The heartbeat request that last extended the lease (an id the server made up for it), and when
-- the server saw that request's connection close before it answered. A heartbeat from the worker,
-- through any server, replaces the id and clears the mark; a mark that stands for the grace period
-- (RATCHET_WORKER_LOST_GRACE_SECONDS) fails the attempt as "worker lost" without waiting out the
-- lease. Matching on the id, not on times, keeps a late close seen by one server from marking a
-- lease that a newer heartbeat through another server has renewed.
alter table ratchet.executions add column heartbeat_id text;
alter table ratchet.executions add column connection_lost_at timestamptz;

-- When a server last swept. A server whose sweeps failed (the database was unreachable), or that has
-- just started, moves live leases and deadlines on by the time nobody swept: workers could not
-- heartbeat or complete while no server could reach the database, so that time is not theirs.
alter table ratchet.instance add column swept_at timestamptz;
