// What this deploy shows, for the next deploy to compare with ("since the previous deploy" on the
// overview): every run's id and status. The publish workflow fetches the deployed copy before building.
import type { APIRoute } from "astro";
import { MANIFEST_FORMAT } from "../lib/deploy-changes";
import { getRuns } from "../lib/runs";

export const GET: APIRoute = async () => {
  const runs = await getRuns();
  const body = { format: MANIFEST_FORMAT, runs: Object.fromEntries(runs.map((run) => [run.id, run.result.status])) };
  return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
};
