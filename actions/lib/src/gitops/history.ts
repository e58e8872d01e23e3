// Earlier runs of an experiment as a commit records them (its results/<run-id>/result.json files), read as
// git objects: the plan's time estimate and the results comment's comparison come from here.
import type { RecordedResult } from "../result/format.js";
import { parseResult } from "../result/read.js";
import { git, listTree, readBlob } from "./git.js";

const RUN_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$/;
const MAX_RESULT_BYTES = 16 * 1024 * 1024;

/**
 * The latest recorded run of the experiment folder `dir` at `commit` (by run id, which starts with its
 * UTC start time) that matches the result schema and `accept`; undefined when there is none or the
 * commit is not in the repository.
 */
export async function latestRecordedRun(
  repository: string,
  commit: string,
  dir: string,
  accept: (result: RecordedResult) => boolean = () => true,
): Promise<RecordedResult | undefined> {
  try {
    await git(repository, ["cat-file", "-e", `${commit}^{commit}`]);
  } catch {
    return undefined;
  }
  const prefix = `${dir}/results/`;
  const files = (await listTree(repository, commit, prefix)).filter((e) => {
    const rest = e.path.slice(prefix.length).split("/");
    return e.type === "blob" && rest.length === 2 && rest[1] === "result.json" && RUN_ID.test(rest[0]!);
  });
  for (const entry of files.sort((a, b) => b.path.localeCompare(a.path))) {
    if ((entry.size ?? 0) > MAX_RESULT_BYTES) continue;
    const text = await readBlob(repository, entry.sha, MAX_RESULT_BYTES).then(
      (blob) => blob.toString("utf8"),
      () => "",
    );
    const { result } = parseResult(text);
    if (result && accept(result)) return result;
  }
  return undefined;
}
