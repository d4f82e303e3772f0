// Cursor pagination of the run and wait-token lists, walked the way the official SDK walks it:
// getPreviousPage() keeps the `page[after]` of the page it came from and adds `page[before]`, so
// `before` must win.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, runs, wait } from "@trigger.dev/sdk";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { ApiClient } from "./helpers/engine.ts";

const ids = (page: { data: Array<{ id: string }> }) => page.data.map((item) => item.id);

describe("cursor pagination", () => {
  let t: TestApp;
  let api: ApiClient;
  let allRuns: string[];
  let allTokens: string[];

  before(async () => {
    t = await createTestApp();
    const key = await t.key("dev");
    const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    configure({ baseURL: address, accessToken: key });
    api = new ApiClient(t.app, key);
    await api.register([{ id: "paged" }]);
    for (let i = 0; i < 7; i += 1) await api.trigger("paged", { i });
    for (let i = 0; i < 7; i += 1) await api.ok("POST", "/api/v1/waitpoints/tokens", { tags: ["paged"] });
    // Ids are time-ordered but random within a millisecond: the one-page listing is the truth.
    allRuns = ids(await api.ok("GET", "/api/v1/runs?filter[taskIdentifier]=paged&page[size]=100"));
    allTokens = ids(await api.ok("GET", "/api/v1/waitpoints/tokens?filter[tags]=paged&page[size]=100"));
    assert.equal(allRuns.length, 7);
    assert.equal(allTokens.length, 7);
  });
  after(() => t.close());

  test("runs.list: next, next, previous, previous through the official SDK returns each page's runs", async () => {
    const first = await runs.list({ taskIdentifier: "paged", limit: 2 });
    assert.deepEqual(ids(first), allRuns.slice(0, 2));
    assert.equal(first.hasPreviousPage(), false);
    const second = await first.getNextPage();
    assert.deepEqual(ids(second), allRuns.slice(2, 4));
    const third = await second.getNextPage();
    assert.deepEqual(ids(third), allRuns.slice(4, 6));
    const backToSecond = await third.getPreviousPage();
    assert.deepEqual(ids(backToSecond), allRuns.slice(2, 4));
    assert.ok(backToSecond.hasPreviousPage());
    const backToFirst = await backToSecond.getPreviousPage();
    assert.deepEqual(ids(backToFirst), allRuns.slice(0, 2));
    assert.equal(backToFirst.hasPreviousPage(), false);
    assert.ok(backToFirst.hasNextPage());
  });

  test("wait.listTokens: next, next, previous, previous through the official SDK returns each page's tokens", async () => {
    const first = await wait.listTokens({ tags: ["paged"], limit: 3 });
    assert.deepEqual(ids(first), allTokens.slice(0, 3));
    const second = await first.getNextPage();
    assert.deepEqual(ids(second), allTokens.slice(3, 6));
    const third = await second.getNextPage();
    assert.deepEqual(ids(third), allTokens.slice(6, 7));
    assert.equal(third.hasNextPage(), false);
    const backToSecond = await third.getPreviousPage();
    assert.deepEqual(ids(backToSecond), allTokens.slice(3, 6));
    const backToFirst = await backToSecond.getPreviousPage();
    assert.deepEqual(ids(backToFirst), allTokens.slice(0, 3));
    assert.equal(backToFirst.hasPreviousPage(), false);
  });

  test("over raw HTTP, page[before] wins when page[after] is sent too", async () => {
    const runsPage = await api.ok(
      "GET",
      `/api/v1/runs?filter[taskIdentifier]=paged&page[size]=2&page[after]=${allRuns[5]}&page[before]=${allRuns[4]}`,
    );
    assert.deepEqual(ids(runsPage), allRuns.slice(2, 4));
    assert.equal(runsPage.pagination.next, allRuns[3]);
    assert.equal(runsPage.pagination.previous, allRuns[2]);
    const tokensPage = await api.ok(
      "GET",
      `/api/v1/waitpoints/tokens?filter[tags]=paged&page[size]=2&page[after]=${allTokens[6]}&page[before]=${allTokens[2]}`,
    );
    assert.deepEqual(ids(tokensPage), allTokens.slice(0, 2));
    assert.equal(tokensPage.pagination.previous, undefined, "the newest tokens have no previous page");
    const bad = await api.request("GET", `/api/v1/runs?page[after]=${allRuns[0]}&page[before]=nonsense`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /page\[before\]/);
  });
});
