import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { RunResult } from "../run.js";
import { describeSchemaError, validateResultDocument } from "../schemas.js";
import type { FileToCommit } from "./commit.js";

export interface ResultFolder {
  result: RunResult;
  /** Repository-relative folder, e.g. experiments/hello-sandbox/results/<runId>. */
  dir: string;
  /** result.json, log.txt, output/** and stages/**, with repository-relative paths. */
  files: FileToCommit[];
  /** Entries left out because they are not regular files (links, FIFOs…). */
  skipped: string[];
}

const SKIPPED_DIRS = new Set([".git", "node_modules"]);

/**
 * Resolves the `results` input: each entry is a result.json file or a folder searched for them.
 * Entries must stay inside the workspace; symbolic links are never followed.
 */
export async function findResultFiles(workspace: string, entries: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const entry of entries) {
    const absolute = insideWorkspace(workspace, entry);
    const stat = await lstat(absolute).catch(() => null);
    if (!stat) throw new Error(`results: ${entry} does not exist`);
    if (stat.isFile() && path.basename(absolute) === "result.json") found.add(absolute);
    else if (stat.isDirectory()) for (const file of await searchResultFiles(absolute)) found.add(file);
    else throw new Error(`results: ${entry} is neither a result.json file nor a folder`);
  }
  if (found.size === 0) throw new Error(`results: no result.json found in ${entries.join(", ")}`);
  return [...found].sort();
}

/** A folder holding result.json is a result folder: its subfolders are the program's outputs, and a result.json there is just a file. */
async function searchResultFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.some((e) => e.isFile() && e.name === "result.json")) return [path.join(dir, "result.json")];
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIPPED_DIRS.has(entry.name)) found.push(...(await searchResultFiles(path.join(dir, entry.name))));
  }
  return found;
}

/** Reads one result folder: result.json must match schemas/result.schema.json before anything is committed. */
export async function readResultFolder(workspace: string, resultFile: string): Promise<ResultFolder> {
  const dir = path.dirname(resultFile);
  const relativeDir = repoPath(workspace, dir);
  const raw = await readFile(resultFile);
  let document: unknown;
  try {
    document = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw new Error(`${relativeDir}/result.json is not valid JSON: ${(error as Error).message}`);
  }
  if (!validateResultDocument(document)) {
    const problems = (validateResultDocument.errors ?? []).map(describeSchemaError).join("; ");
    throw new Error(`${relativeDir}/result.json does not match the result schema: ${problems}`);
  }
  const files: FileToCommit[] = [{ path: `${relativeDir}/result.json`, content: raw }];
  const skipped: string[] = [];
  const log = path.join(dir, "log.txt");
  if ((await lstat(log).catch(() => null))?.isFile()) files.push({ path: `${relativeDir}/log.txt`, content: await readFile(log) });
  await collectRegularFiles(workspace, path.join(dir, "output"), files, skipped);
  // A multi-stage run keeps each stage's log and outputs under stages/<stage>/.
  await collectRegularFiles(workspace, path.join(dir, "stages"), files, skipped);
  return { result: document as RunResult, dir: relativeDir, files, skipped };
}

async function collectRegularFiles(workspace: string, dir: string, files: FileToCommit[], skipped: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await collectRegularFiles(workspace, full, files, skipped);
    else if (entry.isFile()) files.push({ path: repoPath(workspace, full), content: await readFile(full) });
    else skipped.push(repoPath(workspace, full));
  }
}

function insideWorkspace(workspace: string, entry: string): string {
  const absolute = path.resolve(workspace, entry);
  const relative = path.relative(workspace, absolute);
  if (relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) throw new Error(`results: ${entry} is outside the workspace`);
  return absolute;
}

function repoPath(workspace: string, absolute: string): string {
  return path.relative(workspace, absolute).split(path.sep).join("/");
}
