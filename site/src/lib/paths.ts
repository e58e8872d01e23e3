// Where the build reads committed files from. Tests point CRUCIBLE_EXPERIMENTS_DIR at fixtures;
// paths recorded in results (experiment.path) are relative to that folder's parent, the repository root.
import { dirname, join } from "node:path";

/** Set by site/astro.config.mjs before any page is built. */
export const repoRoot = process.env.CRUCIBLE_REPO_ROOT ?? process.cwd();

/**
 * The checkout the site's own code comes from (set by site/astro.config.mjs). Runner configuration (the
 * fleet page) is read from here: in the report job CRUCIBLE_REPO_ROOT holds only experiments and results,
 * and a pull request's change to runner-setup/ is not what the runners use.
 */
export const siteCheckoutRoot = dirname(process.env.CRUCIBLE_SITE_ROOT ?? join(process.cwd(), "site"));

export function experimentsDir(): string {
  return process.env.CRUCIBLE_EXPERIMENTS_DIR || join(repoRoot, "experiments");
}

/** The root that a result's experiment.path is relative to. */
export function recordedPathsRoot(): string {
  return dirname(experimentsDir());
}
