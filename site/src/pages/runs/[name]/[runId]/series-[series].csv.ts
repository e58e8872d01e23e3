// Each structured series of a run as CSV, beside the run page.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse, toCsv } from "../../../../lib/csv";
import { getRuns, readFullResult, type Run } from "../../../../lib/runs";
import { runPagesNeeded } from "../../../../lib/incremental";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id))
    .flatMap((run) =>
      run.seriesNames.map((series) => ({
        params: { name: run.result.experiment.name, runId: run.result.runId, series },
        props: { run, series },
      })),
    )) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run; series: string }> = async ({ props }) => {
  const data = (await readFullResult(props.run)).series![props.series]!;
  return csvResponse(toCsv(data.columns, data.rows));
};
