// Publishes each committed result.json unchanged, next to its run page.
import type { APIRoute, GetStaticPaths } from "astro";
import { runPaths } from "../../../../lib/run-pages";
import { readRawResult, type Run } from "../../../../lib/runs";

export const getStaticPaths = (() => runPaths()) satisfies GetStaticPaths;

export const GET: APIRoute<{ run: Run }> = async ({ props }) =>
  new Response(await readRawResult(props.run), { headers: { "Content-Type": "application/json" } });
