// The run's recorded alert events as CSV, for runs that raised any (the run page's behaviour table).
import type { APIRoute, GetStaticPaths } from "astro";
import { alertsCsv } from "../../../../lib/exports";
import { csvResponse } from "../../../../lib/csv";
import { runPagesNeeded } from "../../../../lib/incremental";
import { getRuns, readFullResult, type Run } from "../../../../lib/runs";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id) && (run.result.alerts?.length ?? 0) > 0)
    .map((run) => ({ params: { name: run.result.experiment.name, runId: run.result.runId }, props: { run } }))) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) => csvResponse(alertsCsv(await readFullResult(props.run)));
