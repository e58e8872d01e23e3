// The detection view's table of every run as CSV.
import type { APIRoute } from "astro";
import { csvResponse } from "../lib/csv";
import { findingsCsv } from "../lib/exports";
import { DETECTION } from "../lib/findings";
import { getRuns } from "../lib/runs";

export const GET: APIRoute = async () => csvResponse(findingsCsv(await getRuns(), DETECTION));
