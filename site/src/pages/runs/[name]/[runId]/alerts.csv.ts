// The run's recorded alert events as CSV, for runs that raised any (the run page's behaviour table).
import type { APIRoute, GetStaticPaths } from "astro";
import { alertsCsv } from "../../../../lib/exports";
import { csvResponse } from "../../../../lib/csv";
import { runPaths } from "../../../../lib/run-pages";
import { readFullResult, type Run } from "../../../../lib/runs";

export const getStaticPaths = (() => runPaths((run) => (run.result.alerts?.length ?? 0) > 0)) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) => csvResponse(alertsCsv(await readFullResult(props.run)));
