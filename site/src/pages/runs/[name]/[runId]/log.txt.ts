// The run's log file as committed, for download (only where it is in the repository).
import type { APIRoute, GetStaticPaths } from "astro";
import { readFile } from "node:fs/promises";
import { logFile, logFileExists } from "../../../../lib/log";
import { getRuns, type Run } from "../../../../lib/runs";
import { runPagesNeeded } from "../../../../lib/incremental";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id) && logFileExists(run, run.result.log))
    .map((run) => ({ params: { name: run.result.experiment.name, runId: run.result.runId }, props: { run } }))) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) =>
  new Response(await readFile((await logFile(props.run, props.run.result.log))!), {
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
