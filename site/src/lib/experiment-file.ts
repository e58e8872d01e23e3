// Reads an experiment's YAML as committed, for its page. The path comes from a result file, so it
// is only followed when it stays inside the experiments folder and names a .yaml file.
import { readFile, realpath, stat } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { parse } from "yaml";
import type { HeadlineSpec } from "./metrics";
import { experimentsDir, recordedPathsRoot } from "./paths";

const maxBytes = 256 * 1024;

export interface ExperimentFile {
  /** The file's text exactly as committed. */
  text: string;
  description?: string;
  params: [string, string][];
  /** The headline metrics the file declares now (runs recorded before the field existed lack their own copy). */
  headline?: HeadlineSpec[];
  /** Staged experiments: each stage as declared, in file order. */
  stages: { name: string; needs: string[]; command: string; artifacts: string[]; params: [string, string][] }[];
}

const words = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);
const pairs = (value: unknown): [string, string][] =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])
    : [];

const headlineOf = (value: unknown): HeadlineSpec[] | undefined => {
  if (!Array.isArray(value)) return undefined;
  const specs = value.filter(
    (item): item is HeadlineSpec => typeof item?.metric === "string" && ["higher", "lower", "neither"].includes(item?.better),
  );
  return specs.length > 0 ? specs.map(({ metric, better }) => ({ metric, better })) : undefined;
};

const cache = new Map<string, Promise<ExperimentFile | undefined>>();

/** The experiment file at a result's experiment.path, or undefined when it is missing or not allowed (read once per build). */
export function readExperimentFile(recordedPath: string): Promise<ExperimentFile | undefined> {
  let file = cache.get(recordedPath);
  if (!file) cache.set(recordedPath, (file = readUncached(recordedPath)));
  return file;
}

async function readUncached(recordedPath: string): Promise<ExperimentFile | undefined> {
  if (!/\.ya?ml$/.test(recordedPath)) return undefined;
  let file: string;
  try {
    file = await realpath(resolve(recordedPathsRoot(), recordedPath));
    const inside = (await realpath(experimentsDir())) + sep;
    if (!file.startsWith(inside) || (await stat(file)).size > maxBytes) return undefined;
  } catch {
    return undefined;
  }
  const text = await readFile(file, "utf8");
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    // Shown as text all the same; the validate action reports the syntax error on the pull request.
    return { text, params: [], stages: [] };
  }
  const fields = typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {};
  const stages =
    typeof fields.stages === "object" && fields.stages !== null
      ? Object.entries(fields.stages as Record<string, Record<string, unknown>>)
      : [];
  return {
    text,
    description: typeof fields.description === "string" ? fields.description : undefined,
    params: pairs(fields.params),
    headline: headlineOf(fields.headline),
    stages: stages.map(([name, stage]) => ({
      name,
      needs: words(stage?.needs),
      command: words(stage?.command).join(" "),
      artifacts: words(stage?.artifacts),
      params: pairs(stage?.params),
    })),
  };
}
