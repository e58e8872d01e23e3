// The run's metrics table as CSV.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse } from "../../../../lib/csv";
import { metricsCsv } from "../../../../lib/exports";
import { runPaths } from "../../../../lib/run-pages";
import type { Run } from "../../../../lib/runs";

export const getStaticPaths = (() => runPaths()) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = ({ props }) => csvResponse(metricsCsv(props.run.result));
