import path from "node:path";
import { readBuiltImage, type Experiment } from "../../lib/src/index.js";

/**
 * The image a sandbox host may run for an experiment that brings its own. A Dockerfile image comes only
 * from the build job's artifact (image-artifact: image.json and image.tar), by its digest; without that
 * input the digest is empty and the run is refused, so the sandbox host never builds a Dockerfile. A
 * digest-pinned reference needs nothing here: its digest is in the reviewed experiment file.
 */
export async function approvedImageOf(experiment: Experiment, artifactInput: string, workspace: string): Promise<{ digest: string; archive?: string } | undefined> {
  if (experiment.image.kind !== "build") return undefined;
  if (!artifactInput) return { digest: "" };
  const { record, archive } = await readBuiltImage(path.resolve(workspace, artifactInput));
  return { digest: record.digest, archive };
}
