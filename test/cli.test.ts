import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { freePort } from "../server/db/scratch.ts";
import { tenancyBootstrap } from "../server/storage/tenancy.ts";
import { usersInsertAdmin } from "../server/storage/users.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { projectRoot, runCli, spawnServer, waitUntilReady } from "./helpers/server-process.ts";
import { startWorker, type Worker } from "./helpers/worker-process.ts";
import type { FastifyInstance } from "fastify";

describe("ratchet keys (against DATABASE_URL)", () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  before(async () => {
    database = await createTestDatabase();
    await tenancyBootstrap(database.db.sql);
    app = await buildApp({ config: loadConfig({ DATABASE_URL: database.url }), db: database.db, logger: pino({ level: "silent" }) });
  });
  after(async () => {
    await app.close();
    await database.drop();
  });

  const whoami = async (key: string) =>
    app.inject({ method: "GET", url: "/api/v1/whoami", headers: { authorization: `Bearer ${key}` } });

  test("keys create prints only the key, for each environment", async () => {
    for (const [env, prefix] of [["dev", "tr_dev_"], ["staging", "tr_stg_"], ["prod", "tr_prod_"], ["preview", "tr_preview_"]]) {
      const result = await runCli(["admin", "keys", "create", "--env", env!], { DATABASE_URL: database.url });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^${prefix}[A-Za-z0-9]{24}\\n$`));
      const response = await whoami(result.stdout.trim());
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().environment.type, env);
    }
  });

  test("keys create with an unknown project or environment fails clearly", async () => {
    const badProject = await runCli(["admin", "keys", "create", "--env", "dev", "--project", "proj_nope"], { DATABASE_URL: database.url });
    assert.equal(badProject.code, 2);
    assert.match(badProject.stderr, /No project with ref proj_nope/);
    assert.equal(badProject.stdout, "");
    const badEnv = await runCli(["admin", "keys", "create", "--env", "production"], { DATABASE_URL: database.url });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /--env with one of: dev, staging, prod, preview/);
  });

  test("keys revoke by id takes effect at once", async () => {
    const created = await runCli(["admin", "keys", "create", "--env", "prod"], { DATABASE_URL: database.url });
    const key = created.stdout.trim();
    assert.equal((await whoami(key)).statusCode, 200);
    const id = /Created (key_[a-z0-9]{16})/.exec(created.stderr)?.[1];
    assert.ok(id, created.stderr);
    const revoked = await runCli(["admin", "keys", "revoke", id], { DATABASE_URL: database.url });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await whoami(key)).statusCode, 401);
    const again = await runCli(["admin", "keys", "revoke", id], { DATABASE_URL: database.url });
    assert.equal(again.code, 1);
  });

  test("an unknown command prints usage and fails", async () => {
    const result = await runCli(["frobnicate"], { DATABASE_URL: database.url });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Unknown command "frobnicate"/);
  });
});

/** A user's machine: an empty folder to work in, a home of its own (no profile) and no server settings. */
async function userMachine(): Promise<{ cwd: string; home: string; env: Record<string, string>; files(): Promise<string[]>; remove(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "ratchet-cli-"));
  const cwd = join(root, "project");
  const home = join(root, "home");
  await mkdir(cwd);
  await mkdir(home);
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, ".config"), RATCHET_API_URL: "", TRIGGER_API_URL: "", RATCHET_SECRET_KEY: "", TRIGGER_SECRET_KEY: "", RATCHET_ACCESS_TOKEN: "" };
  const files = async () => (await readdir(root, { recursive: true })).filter((path) => path !== "project" && path !== "home").sort();
  return { cwd, home, env, files, remove: () => rm(root, { recursive: true, force: true }) };
}

/** One clear line: no stack frames unless --verbose. */
function assertOneSentence(stderr: string, pattern: RegExp): void {
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace:\n${stderr}`);
  assert.equal(stderr.trim().split("\n").length, 1, `one line:\n${stderr}`);
}

const everyCommand = [
  ["init"],
  ["dev"],
  ["worker"],
  ["deploy"],
  ["runner"],
  ["login"],
  ["logout"],
  ["whoami"],
  ["projects"],
  ["keys"],
  ["keys", "create"],
  ["keys", "list"],
  ["keys", "revoke"],
  ["start"],
  ["migrate"],
  ["db-dump"],
  ["admin"],
  ["admin", "create-token"],
  ["admin", "keys"],
  ["admin", "keys", "create"],
  ["admin", "keys", "list"],
  ["admin", "keys", "revoke"],
];

describe("ratchet's command line", () => {
  test("every command answers --help and does nothing else", async () => {
    const machine = await userMachine();
    try {
      const env = { ...machine.env, RATCHET_DATA_DIR: join(machine.cwd, ".ratchet") };
      for (const command of everyCommand) {
        const result = await runCli([...command, "--help"], env, machine.cwd);
        assert.equal(result.code, 0, `${command.join(" ")} --help: ${result.stderr}`);
        assert.match(result.stdout, new RegExp(`^Usage: ratchet ${command.join(" ")}`), command.join(" "));
      }
      assert.deepEqual(await machine.files(), [], "no database, profile or file was created");
    } finally {
      await machine.remove();
    }
  });

  test("bare ratchet prints the help and exits 0; --version prints the version", async () => {
    const version = JSON.parse(await readFile(join(projectRoot, "package.json"), "utf8")).version as string;
    const bare = await runCli([], {});
    assert.equal(bare.code, 0);
    assert.match(bare.stdout, /Usage: ratchet/);
    assert.match(bare.stdout, /Server administration \(on the server's machine: these open the database directly\):[\s\S]*migrate[\s\S]*db-dump[\s\S]*admin/);
    for (const flag of ["--version", "-v"]) {
      const result = await runCli([flag], {});
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `${version}\n`);
    }
  });

  test("keys with no server reachable or no login says so, exits non-zero and creates no database", async () => {
    const machine = await userMachine();
    try {
      const port = await freePort();
      const down = await runCli(["keys", "create", "--env", "dev", "--api-url", `http://127.0.0.1:${port}`], { ...machine.env, RATCHET_ACCESS_TOKEN: `tr_pat_${"a".repeat(40)}` }, machine.cwd);
      assert.equal(down.code, 1);
      assertOneSentence(down.stderr, new RegExp(`No Ratchet server answers at http://127.0.0.1:${port} \\(ECONNREFUSED\\): start it`));
      const anonymous = await runCli(["keys", "create", "--env", "dev"], machine.env, machine.cwd);
      assert.equal(anonymous.code, 1);
      assertOneSentence(anonymous.stderr, /Not logged in to a Ratchet server: run `npx ratchet login --api-url <server URL>`/);
      assert.equal(down.stdout + anonymous.stdout, "");
      assert.deepEqual(await machine.files(), [], "no .ratchet folder, no database");
    } finally {
      await machine.remove();
    }
  });

  test("an admin command whose database does not answer says what to check", async () => {
    const port = await freePort();
    const result = await runCli(["migrate"], { DATABASE_URL: `postgres://ratchet:secret@127.0.0.1:${port}/ratchet` });
    assert.equal(result.code, 1);
    assertOneSentence(result.stderr, /Could not use the database of DATABASE_URL \(ECONNREFUSED: .*\): check that Postgres runs there/);
    assert.ok(!result.stderr.includes("secret"), "the password is not printed");
  });

  test("a mistake prints one line; --verbose adds the stack", async () => {
    const machine = await userMachine();
    try {
      await writeFile(join(machine.cwd, "package.json"), "{ not json");
      const plain = await runCli(["init", "--yes"], machine.env, machine.cwd);
      assert.equal(plain.code, 2);
      assertOneSentence(plain.stderr, /package.json is not valid JSON .*: fix it and run `ratchet init` again\./);
      const verbose = await runCli(["init", "--yes", "--verbose"], machine.env, machine.cwd);
      assert.match(verbose.stderr, /^\s+at /m);
    } finally {
      await machine.remove();
    }
  });
});

describe("ratchet against a running server", () => {
  let t: TestApp;
  let url: string;
  let devKey: string;
  let prodKey: string;
  let token: string;
  const email = "ada@example.com";

  before(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    devKey = await t.key("dev");
    prodKey = await t.key("prod");
    await t.database.db.sql.begin((tx) => usersInsertAdmin(tx, { email, name: "Ada", passwordHash: "unused" }));
  });
  after(() => t.close());

  test("admin create-token prints a token for an existing user, and says what to do for an unknown one", async () => {
    const created = await runCli(["admin", "create-token", "--email", email], { DATABASE_URL: t.database.url });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^tr_pat_[A-Za-z0-9]{40}\n$/);
    token = created.stdout.trim();
    const me = await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(((await me.json()) as { user: { email: string } }).user.email, email);
    const unknown = await runCli(["admin", "create-token", "--email", "nobody@example.com"], { DATABASE_URL: t.database.url });
    assert.equal(unknown.code, 2);
    assertOneSentence(unknown.stderr, /No user has the email nobody@example.com/);
  });

  test("login saves a profile; whoami and keys create, list and revoke go through the server", async () => {
    const machine = await userMachine();
    try {
      const wrong = await runCli(["login", "--api-url", url, "--token", `tr_pat_${"x".repeat(40)}`], machine.env, machine.cwd);
      assert.equal(wrong.code, 1);
      assertOneSentence(wrong.stderr, /rejected the access token: create one on its dashboard's Access tokens page/);

      const login = await runCli(["login", "--api-url", url, "--token", token], machine.env, machine.cwd);
      assert.equal(login.code, 0, login.stderr);
      const profile = join(machine.home, ".config", "ratchet", "profile.json");
      assert.equal(JSON.parse(await readFile(profile, "utf8")).apiUrl, url);
      assert.equal((await stat(profile)).mode & 0o777, 0o600, "only the user reads the token");

      const whoami = await runCli(["whoami"], machine.env, machine.cwd);
      assert.equal(whoami.code, 0, whoami.stderr);
      assert.match(whoami.stdout, new RegExp(`^${email} at ${url}\\n  ${t.project.ref} `));

      const created = await runCli(["keys", "create", "--env", "staging", "--name", "from the cli"], machine.env, machine.cwd);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /^tr_stg_[A-Za-z0-9]{24}\n$/);
      const key = created.stdout.trim();
      const keyWhoami = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(((await keyWhoami.json()) as { environment: { type: string } }).environment.type, "staging");
      const id = /Created (key_[a-z0-9]+)/.exec(created.stderr)?.[1];
      assert.ok(id, created.stderr);

      const listed = await runCli(["keys", "list", "--env", "staging"], machine.env, machine.cwd);
      assert.match(listed.stdout, new RegExp(`${id}\\s+staging.*active.*from the cli`));
      assert.ok(!listed.stdout.includes(key));

      const revoked = await runCli(["keys", "revoke", id, "--env", "staging"], machine.env, machine.cwd);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal((await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).status, 401);

      const badEnv = await runCli(["keys", "create", "--env", "production"], machine.env, machine.cwd);
      assert.equal(badEnv.code, 2);
      assert.match(badEnv.stderr, /Allowed choices are dev, staging, prod, preview/);

      const project = await runCli(["projects", "create", "--name", "Billing from the cli"], machine.env, machine.cwd);
      assert.equal(project.code, 0, project.stderr);
      assert.match(project.stdout, /^proj_[a-z0-9]+\n$/);
      const ref = project.stdout.trim();
      const newKey = /shown once\): (tr_dev_[A-Za-z0-9]+)/.exec(project.stderr)?.[1];
      assert.ok(newKey, project.stderr);
      const newKeyWhoami = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${newKey}` } });
      assert.equal(newKeyWhoami.status, 200);
      const listedProjects = await runCli(["projects"], machine.env, machine.cwd);
      assert.match(listedProjects.stdout, new RegExp(`${ref}  Billing from the cli  `));
      const noName = await runCli(["projects", "create"], machine.env, machine.cwd);
      assert.equal(noName.code, 2);
      assert.match(noName.stderr, /--name/);

      const logout = await runCli(["logout"], machine.env, machine.cwd);
      assert.equal(logout.code, 0);
      assert.equal((await runCli(["whoami"], machine.env, machine.cwd)).code, 1);
      assert.deepEqual(await machine.files(), ["home/.config", "home/.config/ratchet"], "no database anywhere");
    } finally {
      await machine.remove();
    }
  });

  test("ratchet dev: a wrong key, a prod key without --env, a server that is down each end in one sentence", async () => {
    const machine = await userMachine();
    try {
      await mkdir(join(machine.cwd, "trigger"));
      await writeFile(join(machine.cwd, "trigger", "one.ts"), `import { task } from "ratchet/sdk";\nexport const one = task({ id: "one", run: async () => 1 });\n`);
      const wrongKey = await runCli(["dev", "--api-url", url], { ...machine.env, RATCHET_SECRET_KEY: `tr_dev_${"z".repeat(24)}` }, machine.cwd);
      assert.equal(wrongKey.code, 1);
      assertOneSentence(wrongKey.stderr, new RegExp(`The server at ${url} rejected RATCHET_SECRET_KEY: use a secret key of this server`));

      const prod = await runCli(["dev", "--api-url", url], { ...machine.env, RATCHET_SECRET_KEY: prodKey }, machine.cwd);
      assert.equal(prod.code, 2);
      assertOneSentence(prod.stderr, /RATCHET_SECRET_KEY is a key of the prod environment: ratchet dev runs against dev\. .*pass --env prod/);

      const port = await freePort();
      const down = await runCli(["dev"], { ...machine.env, RATCHET_API_URL: `http://127.0.0.1:${port}`, RATCHET_SECRET_KEY: devKey }, machine.cwd);
      assert.equal(down.code, 1);
      assertOneSentence(down.stderr, new RegExp(`No Ratchet server answers at http://127.0.0.1:${port} \\(from RATCHET_API_URL; ECONNREFUSED\\)`));

      const noKey = await runCli(["dev", "--api-url", url], machine.env, machine.cwd);
      assert.equal(noKey.code, 2);
      assertOneSentence(noKey.stderr, /Set RATCHET_SECRET_KEY \(or TRIGGER_SECRET_KEY\)/);
    } finally {
      await machine.remove();
    }
  });

  test("ratchet dev: mistakes in ratchet.config.ts and in task files name the file and the fix", async () => {
    const machine = await userMachine();
    try {
      const env = { ...machine.env, RATCHET_SECRET_KEY: devKey };
      const dev = () => runCli(["dev", "--api-url", url], env, machine.cwd);
      await mkdir(join(machine.cwd, "trigger"));
      const config = join(machine.cwd, "ratchet.config.ts");
      const taskFile = join(machine.cwd, "trigger", "one.ts");

      await writeFile(config, `export default { dirs: "trigger" };\n`);
      const stringDirs = await dev();
      assert.equal(stringDirs.code, 1);
      assertOneSentence(stringDirs.stderr, /"dirs" in ratchet.config.ts must be a list of folders, such as dirs: \["trigger"\]\./);

      await writeFile(config, `export default {\n  dirs: ["trigger"],,\n};\n`);
      const syntax = await dev();
      assert.equal(syntax.code, 1);
      assertOneSentence(syntax.stderr, /ratchet.config.ts could not be loaded: ratchet.config.ts:2:\d+: .*Fix it and run again\./);

      await writeFile(config, `export default { dirs: ["trigger"] };\n`);
      await writeFile(taskFile, `import { task } from "ratchet/sdk";\nexport const one = task({ id: "has spaces", run: async () => 1 });\n`);
      const badId = await dev();
      assert.equal(badId.code, 1);
      assertOneSentence(badId.stderr, /The server refused the tasks: .*task ids use letters, digits and - _ \. \/ :/);

      await writeFile(taskFile, `import { task } from "ratchet/sdk";\nexport const one = task({ id: "one", run: async () => { return 1 +; } });\n`);
      const broken = await dev();
      assert.equal(broken.code, 1);
      assertOneSentence(broken.stderr, /A task file does not compile: trigger\/one.ts:2:\d+: /);

      await writeFile(taskFile, `import { task } from "ratchet/sdk";\nthrow new Error("no database configured");\nexport const one = task({ id: "one", run: async () => 1 });\n`);
      const throws = await dev();
      assert.equal(throws.code, 1);
      assertOneSentence(throws.stderr, /A task file failed to load: Error: no database configured \(at trigger\/one.ts:2:\d+\)\. Fix it and save again\./);
    } finally {
      await machine.remove();
    }
  });
});

describe("ratchet init", () => {
  test("--yes writes the config, an example task and the dependency, asks nothing, and keeps what exists", async () => {
    const machine = await userMachine();
    try {
      await writeFile(join(machine.cwd, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", dependencies: { zod: "^4.0.0" } }));
      const first = await runCli(["init", "--yes"], machine.env, machine.cwd);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /created {2}ratchet.config.ts/);
      assert.match(first.stdout, /created {2}trigger\/example.ts/);
      assert.match(first.stdout, /Next:\n {2}npm install\n {2}npx ratchet dev/);
      const pkg = JSON.parse(await readFile(join(machine.cwd, "package.json"), "utf8"));
      assert.match(pkg.dependencies.ratchet, /^\^\d+\.\d+\.\d+/);
      assert.equal(pkg.dependencies.zod, "^4.0.0", "the project's own dependencies stay");
      assert.equal(pkg.allowScripts.node, true);
      assert.match(await readFile(join(machine.cwd, "ratchet.config.ts"), "utf8"), /dirs: \["trigger"\]/);
      assert.match(await readFile(join(machine.cwd, "trigger", "example.ts"), "utf8"), /from "ratchet\/sdk"/);

      await writeFile(join(machine.cwd, "trigger", "example.ts"), "// mine\n");
      const again = await runCli(["init", "--yes"], machine.env, machine.cwd);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /kept {5}ratchet.config.ts/);
      assert.equal(await readFile(join(machine.cwd, "trigger", "example.ts"), "utf8"), "// mine\n");
      assert.match(again.stdout, /Next:\n {2}npx ratchet start/);
    } finally {
      await machine.remove();
    }
  });

  test("outside a project it says where to run it", async () => {
    const machine = await userMachine();
    try {
      const result = await runCli(["init", "--yes"], machine.env, machine.cwd);
      assert.equal(result.code, 2);
      assertOneSentence(result.stderr, /There is no package.json here: run `ratchet init` in your project's folder/);
      assert.deepEqual(await machine.files(), []);
    } finally {
      await machine.remove();
    }
  });
});

describe("ratchet dev finds the local server", () => {
  test("the URL the server running from this folder wrote to its data dir, on whatever port it got", async () => {
    const machine = await userMachine();
    const dataDir = join(machine.cwd, ".ratchet");
    // mkdtemp's folder is private; the embedded Postgres (its own user, when run as root) must reach it.
    await chmod(dirname(machine.cwd), 0o755);
    const server = await spawnServer({ dataDir });
    let worker: Worker | undefined;
    try {
      await waitUntilReady(server);
      assert.equal(JSON.parse(await readFile(join(dataDir, "server.json"), "utf8")).url, server.url);
      const created = await runCli(["admin", "keys", "create", "--env", "dev"], { RATCHET_DATA_DIR: dataDir });
      assert.equal(created.code, 0, created.stderr);
      await mkdir(join(machine.cwd, "trigger"));
      await writeFile(join(machine.cwd, "trigger", "one.ts"), `import { task } from "ratchet/sdk";\nexport const one = task({ id: "one", run: async () => 1 });\n`);
      worker = startWorker(machine.cwd, { ...machine.env, RATCHET_SECRET_KEY: created.stdout.trim() });
      await worker.waitFor(/1 tasks registered as version/);
      await worker.waitFor(new RegExp(`Runs: ${server.url}/p/proj_\\w+/dev/runs`));
      assert.equal(await worker.stop(), 0);
      server.child.kill("SIGTERM");
      await server.exited;
      await assert.rejects(stat(join(dataDir, "server.json")), "a stopped server leaves no URL behind");
    } finally {
      await worker?.kill();
      server.child.kill("SIGKILL");
      await machine.remove();
    }
  });
});
