// The run's log file as committed, for download (only where it is in the repository).
import type { APIRoute, GetStaticPaths } from "astro";
import { readFile } from "node:fs/promises";
import { logFile, logFileExists } from "../../../../lib/log";
import type { Run } from "../../../../lib/runs";
import { runPaths } from "../../../../lib/run-pages";

export const getStaticPaths = (() => runPaths((run) => logFileExists(run, run.result.log))) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) =>
  new Response(await readFile((await logFile(props.run, props.run.result.log))!), {
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
