// Which model a run evaluated: the `model` parameter its stages recorded, or, for runs that recorded no
// parameters, the one in its experiment file as committed now (marked as such).
import { readExperimentFile } from "./experiment-file";
import type { Run } from "./runs";

export interface ModelOf {
  model: string;
  /** True when taken from the experiment file as it is now, not from the run's own record. */
  fromFile: boolean;
}

export async function modelOf(run: Run): Promise<ModelOf | undefined> {
  const recorded = run.result.stages?.map((stage) => stage.params?.model).find((model) => typeof model === "string");
  if (typeof recorded === "string") return { model: recorded, fromFile: false };
  const file = await readExperimentFile(run.result.experiment.path);
  const model = file?.params.find(([key]) => key === "model")?.[1];
  return model ? { model, fromFile: true } : undefined;
}
