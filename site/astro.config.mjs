// Static report site for committed run results. Everything is decided at build time: no server,
// and no client-side JavaScript is needed to read a page (search and sorting are enhancements).
import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "astro/config";

// Pages are bundled before they run, so their own import.meta.url says nothing about where the
// repository is; this file is loaded in place, so it tells them (site/lib/paths.ts reads it).
process.env.CRUCIBLE_REPO_ROOT ||= fileURLToPath(new URL("..", import.meta.url));
// Where the site's own code is (CRUCIBLE_REPO_ROOT may point at another checkout holding only results).
process.env.CRUCIBLE_SITE_ROOT = fileURLToPath(new URL(".", import.meta.url));

const outDir = process.env.CRUCIBLE_SITE_OUT ? resolve(process.env.CRUCIBLE_SITE_OUT) : fileURLToPath(new URL("./dist", import.meta.url));
// CRUCIBLE_SITE_INCREMENTAL=1 keeps the previous build and regenerates only the pages of new or changed
// runs (site/src/lib/incremental.ts); without a previous build in the output folder it builds everything.
const incremental = process.env.CRUCIBLE_SITE_INCREMENTAL === "1" && existsSync(join(outDir, "manifest.json"));
process.env.CRUCIBLE_SITE_INCREMENTAL_ACTIVE = incremental ? "1" : "";
process.env.CRUCIBLE_SITE_OUT_DIR = outDir;

/** After an incremental build, the pages of runs no longer in the results go too. */
const removeDeletedRuns = {
  name: "crucible-remove-deleted-runs",
  hooks: {
    "astro:build:done": async ({ dir, logger }) => {
      if (!incremental) return;
      const site = fileURLToPath(dir);
      const { runs } = JSON.parse(await readFile(join(site, "manifest.json"), "utf8"));
      let removed = 0;
      for (const experiment of await readdir(join(site, "runs")).catch(() => [])) {
        for (const runId of await readdir(join(site, "runs", experiment)).catch(() => [])) {
          if (!(`${experiment}/${runId}` in runs)) {
            await rm(join(site, "runs", experiment, runId), { recursive: true, force: true });
            removed++;
          }
        }
      }
      logger.info(`incremental build: removed the pages of ${removed} run(s) no longer in the results`);
    },
  },
};

/** Full-text search: Pagefind indexes the built pages (those marked data-pagefind-body) into dist/pagefind/. */
const pagefindIndex = {
  name: "crucible-pagefind",
  hooks: {
    "astro:build:done": async ({ dir, logger }) => {
      const pagefind = await import("pagefind");
      const { index, errors } = await pagefind.createIndex({ forceLanguage: "en", includeCharacters: "-_|" });
      if (!index) throw new Error(`pagefind: ${errors.join("; ")}`);
      const site = fileURLToPath(dir);
      const added = await index.addDirectory({ path: site });
      if (added.errors.length) throw new Error(`pagefind: ${added.errors.join("; ")}`);
      const written = await index.writeFiles({ outputPath: join(site, "pagefind") });
      if (written.errors.length) throw new Error(`pagefind: ${written.errors.join("; ")}`);
      await pagefind.close();
      logger.info(`pagefind indexed ${added.page_count} pages`);
    },
  },
};

export default defineConfig({
  // Deleted runs' pages go before Pagefind indexes what is left.
  integrations: [removeDeletedRuns, pagefindIndex],
  output: "static",
  // GitHub Pages serves a project site from a sub-path, e.g. /crucible/.
  base: process.env.CRUCIBLE_SITE_BASE || "/",
  site: process.env.CRUCIBLE_SITE_URL || undefined,
  // Resolved against the working directory, so a relative override means what the caller expects.
  outDir,
  // Keep Astro's and Vite's caches inside the ignored .astro/ folder instead of creating site/node_modules/.
  // The content store lives here between builds; CRUCIBLE_SITE_CACHE gives a build its own (tests building in parallel).
  cacheDir: process.env.CRUCIBLE_SITE_CACHE ? resolve(process.env.CRUCIBLE_SITE_CACHE) : "./.astro/cache",
  vite: {
    cacheDir: "./.astro/vite",
    build: { emptyOutDir: !incremental },
    // Build-time libraries stay in node_modules instead of being bundled into every build (rollup spent
    // ~10 s of a 1,000-run build re-bundling them); the pages only run at build time anyway.
    ssr: { external: ["@observablehq/plot", "linkedom", "ajv", "ajv-formats", "yaml", "pagefind"] },
  },
  devToolbar: { enabled: false },
});
