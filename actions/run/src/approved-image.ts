import { existsSync } from "node:fs";
import path from "node:path";
import { BUILT_IMAGE_FILE, readBuiltImage, type Experiment } from "../../lib/src/index.js";

/**
 * The image a sandbox host may run for an experiment that brings its own. A Dockerfile image comes only
 * from the build job's artifact (image-artifact: image.json and image.tar), by its digest; without that
 * input the digest is empty and the run is refused, so the sandbox host never builds a Dockerfile. A
 * digest-pinned reference needs nothing here: its digest is in the reviewed experiment file.
 */
export async function approvedImageOf(
  experiment: Experiment,
  artifactInput: string,
  workspace: string,
): Promise<{ digest: string; archive?: string } | undefined> {
  if (experiment.image.kind !== "build") return undefined;
  const folder = artifactInput ? path.resolve(workspace, artifactInput) : "";
  // No artifact (no input, or a failed build left none): an empty digest, which the run records as refused.
  if (!folder || !existsSync(path.join(folder, BUILT_IMAGE_FILE))) return { digest: "" };
  const { record, archive } = await readBuiltImage(folder);
  return { digest: record.digest, archive };
}
