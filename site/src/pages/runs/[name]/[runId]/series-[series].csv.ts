// Each structured series of a run as CSV, beside the run page.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse, toCsv } from "../../../../lib/csv";
import type { Series } from "../../../../lib/result";
import { getRuns } from "../../../../lib/runs";

export const getStaticPaths = (async () =>
  (await getRuns()).flatMap(({ result }) =>
    Object.entries(result.series ?? {}).map(([series, data]) => ({
      params: { name: result.experiment.name, runId: result.runId, series },
      props: { data },
    })),
  )) satisfies GetStaticPaths;

export const GET: APIRoute<{ data: Series }> = ({ props }) => csvResponse(toCsv(props.data.columns, props.data.rows));
