// The run's CPU and memory samples as CSV, for runs that recorded any.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse } from "../../../../lib/csv";
import { usageCsv } from "../../../../lib/exports";
import { getRuns, readFullResult, type Run } from "../../../../lib/runs";
import { runPagesNeeded } from "../../../../lib/incremental";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id) && run.usageSamples > 0)
    .map((run) => ({ params: { name: run.result.experiment.name, runId: run.result.runId }, props: { run } }))) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) => csvResponse(usageCsv((await readFullResult(props.run)).usage!));
