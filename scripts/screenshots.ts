// `npm run screenshots`: every dashboard page, light and dark, at desktop and phone width, written to
// screenshots/ (ignored by git), so anyone can look at the whole dashboard in a minute. Uses the
// test helpers: a temporary Postgres (or DATABASE_URL's server), a migrated database with seeded
// runs, schedules, tokens and queues, a signed-in admin, and Debian's Chromium.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect } from "../server/db/client.ts";
import { migrate } from "../server/db/migrate.ts";
import { createDatabase, dropDatabase, startScratchServer } from "../server/db/scratch.ts";

const out = join(import.meta.dirname, "..", "screenshots");
const server = await startScratchServer(process.env.DATABASE_URL);
const template = `ratchet_shots_${randomBytes(4).toString("hex")}`;
try {
  await createDatabase(server.adminUrl, template);
  const db = connect({ url: server.urlFor(template), poolSize: 1 });
  await migrate(db.sql).finally(() => db.close());
  process.env.RATCHET_TEST_ADMIN_URL = server.adminUrl;
  process.env.RATCHET_TEST_TEMPLATE = template;
  // Imported after the environment is set: the helpers read it.
  const { dashboardPages, launchChromium, seededDashboard, signedInContext } = await import("../test/helpers/dashboard-seed.ts");
  await mkdir(out, { recursive: true });
  const seed = await seededDashboard();
  const chromium = await launchChromium();
  let count = 0;
  try {
    for (const colorScheme of ["light", "dark"] as const) {
      for (const [size, width] of [["desktop", 1280], ["phone", 390]] as const) {
        const context = await signedInContext(chromium, seed, { colorScheme, width });
        const page = await context.newPage();
        for (const [name, path] of dashboardPages(seed)) {
          await page.goto(`${seed.url}${path}`);
          await page.screenshot({ path: join(out, `${name}-${colorScheme}-${size}.png`), fullPage: true });
          count += 1;
        }
        await context.close();
      }
    }
  } finally {
    await chromium.close();
    await seed.close();
  }
  console.log(`${count} screenshots in ${out}`);
} finally {
  await dropDatabase(server.adminUrl, template).catch(() => {});
  await server.stop();
}
