// The static paths of each run's own pages and files (runs/<experiment>/<runId>/…), in one place: which
// runs a build writes them for (every run, or the new and changed ones of an incremental build) and
// the route parameters that name a run's folder.
import { runPagesNeeded } from "./incremental";
import { getRuns, type Run } from "./runs";

type RunParams = { name: string; runId: string };

/** The route parameters of a run's folder. */
export function runParams(run: Run): RunParams {
  return { name: run.result.experiment.name, runId: run.result.runId };
}

/** The runs whose own pages this build writes, narrowed to those `include` accepts. */
export async function runsToPublish(include: (run: Run) => boolean = () => true): Promise<Run[]> {
  return (await getRuns()).filter((run) => runPagesNeeded(run.id) && include(run));
}

/** One page or file per run this build writes, with the run as its prop. */
export async function runPaths(include?: (run: Run) => boolean): Promise<{ params: RunParams; props: { run: Run } }[]> {
  return (await runsToPublish(include)).map((run) => ({ params: runParams(run), props: { run } }));
}
