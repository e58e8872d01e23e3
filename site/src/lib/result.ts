// The shape of result.json as the pages read it. schemas/result.schema.json is the authority: the
// loader validates every file against it before a page sees the data. The pipeline's own type is the
// newest version; older results may lack the fields that were added since, so those are optional here.
import type { RunResult as RecordedRun } from "../../../actions/lib/src/result/format.js";

export type { RunStatus, Series, StageResult, StageStatus } from "../../../actions/lib/src/result/format.js";

type AddedSinceVersion1 = "dropped" | "resources" | "policy" | "usage";

// A type alias rather than an interface, so it fits the content store's Record<string, unknown>.
export type RunResult = Omit<RecordedRun, AddedSinceVersion1 | "log"> &
  Partial<Pick<RecordedRun, AddedSinceVersion1>> & {
    log: Omit<RecordedRun["log"], "tail"> & { tail?: string[] };
  };
