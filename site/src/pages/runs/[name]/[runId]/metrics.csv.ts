// The run's metrics table as CSV.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse } from "../../../../lib/csv";
import { metricsCsv } from "../../../../lib/exports";
import type { RunResult } from "../../../../lib/result";
import { getRuns } from "../../../../lib/runs";
import { runPagesNeeded } from "../../../../lib/incremental";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id))
    .map(({ result }) => ({
      params: { name: result.experiment.name, runId: result.runId },
      props: { result },
    }))) satisfies GetStaticPaths;

export const GET: APIRoute<{ result: RunResult }> = ({ props }) => csvResponse(metricsCsv(props.result));
