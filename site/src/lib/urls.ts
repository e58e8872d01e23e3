// Every internal link goes through here so the site works under a sub-path base (GitHub Pages).
import type { Run } from "./runs";

const base = import.meta.env.BASE_URL.replace(/\/$/, "");

export function sitePath(path = ""): string {
  return `${base}/${path.replace(/^\//, "")}`;
}

export function experimentPath(name: string): string {
  return sitePath(`experiments/${name}/`);
}

export function runPath(name: string, runId: string): string {
  return sitePath(`runs/${name}/${runId}/`);
}

/** A run's page, from the run itself. */
export function runPathOf(run: Run): string {
  return runPath(run.result.experiment.name, run.result.runId);
}

/** The page of a run's full log, or of one stage's. */
export function logPath(name: string, runId: string, stage?: string): string {
  return `${runPath(name, runId)}log/${stage ? `${stage}/` : ""}`;
}

/** The log file itself, as committed. */
export function rawLogPath(name: string, runId: string, stage?: string): string {
  return stage ? `${runPath(name, runId)}log/${stage}.txt` : `${runPath(name, runId)}log.txt`;
}

/** A term on the glossary page. */
export function glossaryPath(term: string): string {
  return sitePath(`glossary/#${term}`);
}
