// Static report site for committed run results. Everything is decided at build time: no server,
// and no client-side JavaScript is needed to read a page (search and sorting are enhancements).
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "astro/config";

// Pages are bundled before they run, so their own import.meta.url says nothing about where the
// repository is; this file is loaded in place, so it tells them (site/lib/paths.ts reads it).
process.env.CRUCIBLE_REPO_ROOT ||= fileURLToPath(new URL("..", import.meta.url));

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
  integrations: [pagefindIndex],
  output: "static",
  // GitHub Pages serves a project site from a sub-path, e.g. /crucible/.
  base: process.env.CRUCIBLE_SITE_BASE || "/",
  site: process.env.CRUCIBLE_SITE_URL || undefined,
  // Resolved against the working directory, so a relative override means what the caller expects.
  outDir: process.env.CRUCIBLE_SITE_OUT ? resolve(process.env.CRUCIBLE_SITE_OUT) : "./dist",
  // Keep Astro's and Vite's caches inside the ignored .astro/ folder instead of creating site/node_modules/.
  cacheDir: "./.astro/cache",
  vite: {
    cacheDir: "./.astro/vite",
    // Build-time libraries stay in node_modules instead of being bundled into every build (rollup spent
    // ~10 s of a 1,000-run build re-bundling them); the pages only run at build time anyway.
    ssr: { external: ["@observablehq/plot", "linkedom", "ajv", "ajv-formats", "yaml", "pagefind"] },
  },
  devToolbar: { enabled: false },
});
