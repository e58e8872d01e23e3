// Each structured series of a run as CSV, beside the run page.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse, toCsv } from "../../../../lib/csv";
import { runParams, runsToPublish } from "../../../../lib/run-pages";
import { readFullResult, type Run } from "../../../../lib/runs";

export const getStaticPaths = (async () =>
  (await runsToPublish()).flatMap((run) =>
    run.seriesNames.map((series) => ({ params: { ...runParams(run), series }, props: { run, series } })),
  )) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run; series: string }> = async ({ props }) => {
  const data = (await readFullResult(props.run)).series![props.series]!;
  return csvResponse(toCsv(data.columns, data.rows));
};
