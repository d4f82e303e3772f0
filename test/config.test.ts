import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, configDefaults, loadConfig } from "../server/config.ts";

describe("configuration", () => {
  test("an empty environment gives the documented defaults", () => {
    const config = loadConfig({});
    assert.equal(config.port, configDefaults.PORT);
    assert.equal(config.port, 3030);
    assert.equal(config.dataDir, ".ratchet");
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.publicUrl, "http://127.0.0.1:3030");
  });

  test("values are read and coerced", () => {
    const config = loadConfig({ PORT: "4000", HOST: "0.0.0.0", RATCHET_DB_POOL_SIZE: "20" });
    assert.equal(config.port, 4000);
    assert.equal(config.dbPoolSize, 20);
    assert.equal(config.publicUrl, "http://localhost:4000");
  });

  test("a misspelt RATCHET_ variable is reported with the closest valid name", () => {
    assert.throws(
      () => loadConfig({ RATCHET_DATA_DRI: "/tmp/x" }),
      (error: unknown) => error instanceof ConfigError && /RATCHET_DATA_DRI .*did you mean RATCHET_DATA_DIR\?/.test(error.message),
    );
  });

  test("variables of the SDK and worker are not mistaken for misspellings", () => {
    assert.doesNotThrow(() => loadConfig({ RATCHET_SECRET_KEY: "tr_dev_x", RATCHET_API_URL: "http://localhost:3030" }));
  });

  test("an invalid value names the variable", () => {
    assert.throws(() => loadConfig({ PORT: "http" }), /PORT:/);
    assert.throws(() => loadConfig({ DATABASE_URL: "mysql://x" }), /DATABASE_URL: must be a postgres/);
    assert.throws(() => loadConfig({ RATCHET_LOG_LEVEL: "loud" }), /RATCHET_LOG_LEVEL/);
  });

  test("a read replica: unset by default, a postgres URL when set, a bad one named", () => {
    assert.equal(loadConfig({}).readDatabaseUrl, undefined);
    assert.equal(loadConfig({ RATCHET_READ_DATABASE_URL: "postgres://r@replica:5432/ratchet" }).readDatabaseUrl, "postgres://r@replica:5432/ratchet");
    assert.throws(() => loadConfig({ RATCHET_READ_DATABASE_URL: "replica:5432" }), /RATCHET_READ_DATABASE_URL: must be a postgres/);
    assert.throws(() => loadConfig({ RATCHET_READ_DATABSE_URL: "postgres://r@replica/ratchet" }), /did you mean RATCHET_READ_DATABASE_URL\?/);
  });

  test("OTLP export: off by default; endpoint and headers read, bad ones named", () => {
    assert.equal(loadConfig({}).otlpExport, null);
    assert.deepEqual(loadConfig({ RATCHET_OTLP_ENDPOINT: "http://collector:4318", RATCHET_OTLP_HEADERS: "api-key=a%3Db, x-team = core" }).otlpExport, {
      endpoint: "http://collector:4318",
      headers: { "api-key": "a=b", "x-team": "core" },
    });
    assert.throws(() => loadConfig({ RATCHET_OTLP_ENDPOINT: "ftp://collector" }), /RATCHET_OTLP_ENDPOINT/);
    assert.throws(() => loadConfig({ RATCHET_OTLP_ENDPOINT: "http://collector:4318", RATCHET_OTLP_HEADERS: "no-equals-sign" }), /RATCHET_OTLP_HEADERS: must be name=value pairs/);
  });

  test("every problem is reported at once", () => {
    assert.throws(() => loadConfig({ PORT: "0", RATCHET_PROT: "1" }), (error: unknown) => {
      const message = (error as Error).message;
      return message.includes("PORT:") && message.includes("RATCHET_PROT");
    });
  });
});
