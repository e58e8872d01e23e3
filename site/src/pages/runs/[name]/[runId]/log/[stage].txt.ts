// One stage's log file as committed, for download.
import type { APIRoute, GetStaticPaths } from "astro";
import { readFile } from "node:fs/promises";
import { logFile, logFileExists } from "../../../../../lib/log";
import { runParams, runsToPublish } from "../../../../../lib/run-pages";
import type { Run } from "../../../../../lib/runs";

export const getStaticPaths = (async () =>
  (await runsToPublish()).flatMap((run) =>
    (run.result.stages ?? [])
      .filter((stage) => logFileExists(run, stage.log))
      .map((stage) => ({ params: { ...runParams(run), stage: stage.name }, props: { run, log: stage.log } })),
  )) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run; log: { path: string } }> = async ({ props }) =>
  new Response(await readFile((await logFile(props.run, props.log))!), { headers: { "Content-Type": "text/plain; charset=utf-8" } });
