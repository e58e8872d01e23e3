// Content loader for run results: finds experiments/<name>/results/<runId>/result.json,
// validates each file against schemas/result.schema.json and stores it in the collection.
// An invalid file stops the build with its path and the failing field, because a site
// that silently skips results would misreport what ran.
import { createHash } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Loader } from "astro/loaders";
import { findResultFiles, parseResult } from "../../../actions/lib/src/result/read.js";
import { noteChangedRuns } from "./incremental";
import { experimentsDir } from "./paths";
import type { RunResult } from "./result";
import type { StoredRun } from "./runs";

/** Bump when summarise() changes, so stores written by an older build are filled again. */
const SUMMARY_VERSION = "summary/2";

export function resultsLoader(): Loader {
  return {
    name: "crucible-results",
    load: async ({ store, meta, generateDigest }) => {
      // Astro keeps the store between builds: an unchanged file is neither parsed nor validated again,
      // unless the store was filled from another experiments folder or by another summary version.
      // The containment matrix is in the key too: run pages show its verdicts.
      const matrix = await readFile(join(experimentsDir(), "containment", "matrix.json"), "utf8").catch(() => "");
      const key = `${SUMMARY_VERSION} ${experimentsDir()} ${await siteFingerprint()} ${generateDigest(matrix)}`;
      if (meta.get("store") !== key) {
        store.clear();
        meta.set("store", key);
      }
      const dir = experimentsDir();
      const seen = new Set<string>();
      const changed = new Set<string>();
      // Run pages show headline metrics their experiment file declares now: a changed file changes its runs' pages.
      const fileChanged = new Map<string, boolean>();
      const experimentFileChanged = async (experimentDir: string) => {
        if (!fileChanged.has(experimentDir)) {
          const digest = generateDigest(await readFile(join(experimentDir, "experiment.yaml"), "utf8").catch(() => ""));
          fileChanged.set(experimentDir, meta.get(`file:${experimentDir}`) !== digest);
          meta.set(`file:${experimentDir}`, digest);
        }
        return fileChanged.get(experimentDir)!;
      };
      for (const file of await findResultFiles(dir)) {
        const id = `${file.experiment}/${file.runId}`;
        seen.add(id);
        const body = await readFile(file.path, "utf8");
        const digest = generateDigest(body);
        const experimentDir = join(file.path, "..", "..", "..");
        if ((await experimentFileChanged(experimentDir)) && store.has(id)) changed.add(id);
        if (store.get(id)?.digest === digest) continue;
        changed.add(id);
        const result = parseResultFile(file.path, body);
        if (result.experiment.name !== file.experiment || result.runId !== file.runId) {
          throw new Error(
            `${file.path}: experiment.name "${result.experiment.name}" and runId "${result.runId}" ` +
              `must match the folders ${file.experiment}/results/${file.runId}/`,
          );
        }
        store.set({ id, data: summarise(result, file.path), digest });
      }
      const removed = store.keys().filter((id) => !seen.has(id));
      const incremental = process.env.CRUCIBLE_SITE_INCREMENTAL_ACTIVE === "1";
      // A run page compares with the experiment's previous run: the next newer run of a changed or removed one changes too.
      if (incremental) for (const id of nextNewer(store, [...changed, ...removed], seen)) changed.add(id);
      for (const id of removed) store.delete(id);
      if (incremental && process.env.CRUCIBLE_SITE_OUT_DIR) {
        // A changed run's folder is made anew, so no file of its previous version (a series it no longer has) stays.
        for (const id of changed) await rm(join(process.env.CRUCIBLE_SITE_OUT_DIR, "runs", id), { recursive: true, force: true });
      }
      noteChangedRuns(incremental ? { all: false, ids: changed } : { all: true });
    },
  };
}

/** For each given run, the next newer run of its experiment that is still in the results (one pass over the store). */
type StoreView = { keys(): string[]; get(id: string): { data: unknown } | undefined };

function nextNewer(store: StoreView, ids: string[], seen: Set<string>): string[] {
  const byExperiment = new Map<string, { id: string; startedAt: string }[]>();
  for (const id of store.keys()) {
    const startedAt = (store.get(id)?.data as unknown as StoredRun).result.startedAt;
    const experiment = id.slice(0, id.lastIndexOf("/"));
    const runs = byExperiment.get(experiment) ?? [];
    runs.push({ id, startedAt });
    byExperiment.set(experiment, runs);
  }
  const found: string[] = [];
  for (const id of ids) {
    const runs = byExperiment.get(id.slice(0, id.lastIndexOf("/"))) ?? [];
    const own = runs.find((run) => run.id === id)?.startedAt ?? "";
    const newer = runs.filter((run) => seen.has(run.id) && run.startedAt > own).sort((a, b) => a.startedAt.localeCompare(b.startedAt))[0];
    if (newer) found.push(newer.id);
  }
  return found;
}

/**
 * What the collection keeps of a result: everything list pages use. Usage samples, series rows and
 * container configurations are read from the file by the pages that show them, so the data store
 * (which Astro bundles into the build) stays small for thousands of runs.
 */
function summarise(result: RunResult, file: string): StoredRun {
  const { policy: _policy, series, usage, stages, log, ...rest } = result;
  return {
    file,
    usageSamples: usage?.samples.length ?? 0,
    gpuSamples: usage?.gpuSamples?.length ?? 0,
    seriesNames: Object.keys(series ?? {}),
    result: {
      ...rest,
      log: { ...log, tail: [] },
      ...(usage ? { usage: { peak: usage.peak, samples: [] } } : {}),
      ...(stages
        ? { stages: stages.map(({ usage: _u, policy: _p, log: stageLog, ...stage }) => ({ ...stage, log: { ...stageLog, tail: [] } })) }
        : {}),
    },
  };
}

/**
 * The site's own code and contracts: when any of it changes, every stored summary and every page is
 * made again (an incremental build must not keep pages rendered by older templates).
 */
async function siteFingerprint(): Promise<string> {
  const site = process.env.CRUCIBLE_SITE_ROOT ?? "site";
  const hash = createHash("sha256");
  const files = [join(site, "astro.config.mjs"), join(site, "../package-lock.json"), join(site, "../schemas/result.schema.json")];
  // The result format's readers live with the pipeline's code (actions/lib/src/result/).
  for (const dir of [join(site, "src"), join(site, "../actions/lib/src/result")]) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
    }
  }
  for (const file of files.sort()) hash.update(file).update(await readFile(file));
  return hash.digest("hex");
}

function parseResultFile(path: string, body: string): RunResult {
  const parsed = parseResult(body);
  if (parsed.problem !== undefined) throw new Error(`${path}: ${parsed.problem}`);
  return parsed.result;
}
