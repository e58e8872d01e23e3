// The run's CPU and memory samples as CSV, for runs that recorded any.
import type { APIRoute, GetStaticPaths } from "astro";
import { csvResponse } from "../../../../lib/csv";
import { usageCsv } from "../../../../lib/exports";
import { readFullResult, type Run } from "../../../../lib/runs";
import { runPaths } from "../../../../lib/run-pages";

export const getStaticPaths = (() => runPaths((run) => run.usageSamples > 0)) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) => csvResponse(usageCsv((await readFullResult(props.run)).usage!));
