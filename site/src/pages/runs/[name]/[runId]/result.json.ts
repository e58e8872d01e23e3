// Publishes each committed result.json unchanged, next to its run page.
import type { APIRoute, GetStaticPaths } from "astro";
import { getRuns, readRawResult, type Run } from "../../../../lib/runs";
import { runPagesNeeded } from "../../../../lib/incremental";

export const getStaticPaths = (async () =>
  (await getRuns())
    .filter((run) => runPagesNeeded(run.id))
    .map((run) => ({
      params: { name: run.result.experiment.name, runId: run.result.runId },
      props: { run },
    }))) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) =>
  new Response(await readRawResult(props.run), { headers: { "Content-Type": "application/json" } });
