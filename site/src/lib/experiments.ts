// One row per experiment for the index: what kind it is, which model, how its latest run ended.
import { readExperimentFile, type ExperimentFile } from "./experiment-file";
import type { Run } from "./runs";
import { isSandboxed } from "./runtime";

export interface ExperimentRow {
  name: string;
  /** "staged (6 stages)", "containment attack" or "single program". */
  type: string;
  model: string;
  image: string;
  latest: Run;
  runs: number;
  pullRequest?: number;
}

export async function experimentRows(byExperiment: Map<string, Run[]>): Promise<ExperimentRow[]> {
  const rows: ExperimentRow[] = [];
  for (const [name, runs] of byExperiment) rows.push(experimentRow(name, runs, await readExperimentFile(runs[0]!.result.experiment.path)));
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

/** One experiment's row, from its runs (newest first) and its file as committed, when it is there. */
export function experimentRow(name: string, runs: Run[], file: ExperimentFile | undefined): ExperimentRow {
  // The newest sandboxed run speaks for the experiment; a baseline under runc only when there is nothing else.
  const latest = runs.find((run) => isSandboxed(run.result.runtime)) ?? runs[0]!;
  const stages = latest.result.stages?.length ?? file?.stages.length ?? 0;
  const model = file?.params.find(([key]) => key === "model")?.[1];
  return {
    name,
    type: stages > 0 ? `staged (${stages} stages)` : file?.text.includes("\nexpect:") ? "containment attack" : "single program",
    model: model ?? "—",
    image: latest.result.image.name,
    latest,
    runs: runs.length,
    pullRequest: runs.find((r) => r.result.provenance.pullRequest)?.result.provenance.pullRequest ?? undefined,
  };
}

/** The kind of experiment without its stage count, for the type facet. */
export function typeFacet(type: string): string {
  return type.replace(/ \(.*\)$/, "");
}
