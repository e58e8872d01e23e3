// Reading result.json files: one parser (strict JSON, then the result schema) and one walk of the
// committed layout, shared by the site, the record step and the comparison with earlier runs.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../errors.js";
import { describeSchemaError, validateResultDocument } from "../schemas.js";
import type { RecordedResult } from "./format.js";

const MAX_PROBLEMS = 5;

export type ParsedResult = { result: RecordedResult; problem?: undefined } | { result?: undefined; problem: string };

/** A result.json's text as a result, or why it is not one: not JSON, or not matching schemas/result.schema.json. */
export function parseResult(text: string): ParsedResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { problem: `not valid JSON: ${errorMessage(error)}` };
  }
  if (!validateResultDocument(data)) {
    // A hostile upload can fail on every field: the reason (shown in comments) names the first few.
    const errors = validateResultDocument.errors ?? [];
    const more = errors.length > MAX_PROBLEMS ? `; and ${errors.length - MAX_PROBLEMS} more` : "";
    const first = errors.slice(0, MAX_PROBLEMS).map((e) => `${e.instancePath || "(root)"}: ${describeSchemaError(e)}`);
    return { problem: `does not match the result schema: ${first.join("; ")}${more}` };
  }
  return { result: data };
}

export interface ResultFile {
  experiment: string;
  runId: string;
  path: string;
}

/**
 * The committed results under an experiments folder: only <experiment>/results/<runId>/result.json counts,
 * where <experiment> may sit in a group folder (experiments/containment/<attack>/); files at any other
 * depth are ignored. A missing experiments folder is a misconfiguration, not an empty list: it throws.
 */
export async function findResultFiles(experimentsDir: string): Promise<ResultFile[]> {
  const found: ResultFile[] = [];
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
    return entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw error;
  }
}
