// Content loader for run results: finds experiments/<name>/results/<runId>/result.json,
// validates each file against schemas/result.schema.json and stores it in the collection.
// An invalid file stops the build with its path and the failing field, because a site
// that silently skips results would misreport what ran.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Loader } from "astro/loaders";
import { schemaProblems, validateResultDocument } from "../../../actions/lib/src/schemas.js";
import { experimentsDir } from "./paths";
import type { RunResult } from "./result";

export function resultsLoader(): Loader {
  return {
    name: "crucible-results",
    load: async ({ store, meta, generateDigest }) => {
      // Astro keeps the store between builds: an unchanged file is neither parsed nor validated again,
      // unless the store was filled from another experiments folder.
      const dir = experimentsDir();
      if (meta.get("experimentsDir") !== dir) {
        store.clear();
        meta.set("experimentsDir", dir);
      }
      const seen = new Set<string>();
      for (const file of await findResultFiles(dir)) {
        const id = `${file.experiment}/${file.runId}`;
        seen.add(id);
        const body = await readFile(file.path, "utf8");
        const digest = generateDigest(body);
        if (store.get(id)?.digest === digest) continue;
        const result = parseResult(file.path, body);
        if (result.experiment.name !== file.experiment || result.runId !== file.runId) {
          throw new Error(
            `${file.path}: experiment.name "${result.experiment.name}" and runId "${result.runId}" ` +
              `must match the folders ${file.experiment}/results/${file.runId}/`,
          );
        }
        store.set({ id, data: result, body, digest });
      }
      for (const id of store.keys()) if (!seen.has(id)) store.delete(id);
    },
  };
}

function parseResult(path: string, body: string): RunResult {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (error) {
    throw new Error(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  if (!validateResultDocument(data)) {
    throw new Error(`${path} does not match schemas/result.schema.json: ${schemaProblems(validateResultDocument)}`);
  }
  return data as RunResult;
}

interface ResultFile {
  experiment: string;
  runId: string;
  path: string;
}

/**
 * Only <experiment>/results/<runId>/result.json counts, where <experiment> may sit in a group folder
 * (experiments/containment/<attack>/); files at any other depth are ignored.
 */
async function findResultFiles(experimentsDir: string): Promise<ResultFile[]> {
  const found: ResultFile[] = [];
  // A missing experiments folder is a misconfiguration, not an empty site: readdir throws.
  await readdir(experimentsDir);
  const visit = async (dir: string, depth: number): Promise<void> => {
    for (const name of await subdirectories(dir)) {
      if (name === "results") continue;
      const experimentDir = join(dir, name);
      const resultsDir = join(experimentDir, "results");
      for (const runId of await subdirectories(resultsDir)) {
        const runDir = join(resultsDir, runId);
        const entries = await readdir(runDir, { withFileTypes: true });
        if (entries.some((entry) => entry.name === "result.json" && entry.isFile())) {
          found.push({ experiment: name, runId, path: join(runDir, "result.json") });
        }
      }
      if (depth < 2) await visit(experimentDir, depth + 1);
    }
  };
  await visit(experimentsDir, 0);
  return found;
}

/** Names of real subdirectories (symbolic links are not followed); none when dir is missing or a file. */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw error;
  }
}
