// The shape of result.json as the pages read it: what schemas/result.schema.json guarantees for every version
// (the loader validates every file against it before a page sees the data). Older results may lack fields that
// the pipeline writes today, so the pages read the schema's type, not the writer's narrower one.
import type { RecordedResult } from "../../../actions/lib/src/result/format.js";

export type { RunStatus, Series, StageStatus } from "../../../actions/lib/src/result/format.js";

// A type alias rather than an interface, so it fits the content store's Record<string, unknown>.
export type RunResult = RecordedResult;
export type StageResult = NonNullable<RecordedResult["stages"]>[number];
