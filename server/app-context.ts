// What every route module is handed: the shared services of one running server.
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";

export interface AppContext {
  config: Config;
  db: Db;
  clock: Clock;
}
