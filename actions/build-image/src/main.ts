import path from "node:path";
import * as core from "@actions/core";
import {
  defaultPolicyFile,
  errorMessage,
  escapeControls,
  formatIssue,
  ExperimentInvalidError,
  imagesDirOf,
  installRoot,
  loadExperiment,
  loadPolicy,
  repositoryOf,
  resolveImagePolicy,
} from "../../lib/src/index.js";
import { exportBuiltImage, localDocker, prepareExperimentImage } from "../../lib/src/docker/index.js";
import { getInputs } from "./inputs.js";

export async function run(): Promise<void> {
  try {
    const { experiment: file, output } = getInputs();
    const root = installRoot(import.meta.url);
    const experiment = await loadExperiment(file, { imagesDir: imagesDirOf(root) });
    if (experiment.image.kind !== "build") throw new Error(`${experiment.spec.name} brings no Dockerfile: nothing to build`);
    const policy = await loadPolicy(defaultPolicyFile(root));
    // This is a hosted runner, thrown away after the job: RUN steps may execute here (never on a sandbox host).
    const images = { ...(policy.images ?? resolveImagePolicy(undefined)), runSteps: "default-runtime" as const };
    const docker = localDocker();
    const image = await prepareExperimentImage(
      docker,
      {
        source: experiment.image,
        experimentName: experiment.spec.name,
        experimentDir: experiment.dir,
        imagesDir: imagesDirOf(root),
        policy: images,
      },
      (line) => core.info(escapeControls(line)),
    );
    // The materialized folder is a repository root: the record names the experiment's folder as the plan does.
    const record = await exportBuiltImage(
      docker,
      image,
      path.relative(repositoryOf(file), experiment.dir).split(path.sep).join("/"),
      output,
    );
    core.setOutput("digest", record.digest);
    core.info(`exported ${record.digest} (Dockerfile ${record.dockerfileHash ?? "?"}, base ${record.baseImage ?? "none"}) to ${output}`);
    await core.summary
      .addHeading(`Image of ${escapeControls(experiment.spec.name)}`, 3)
      .addTable([
        [
          { data: "Digest", header: true },
          { data: "Dockerfile", header: true },
          { data: "Base image", header: true },
        ],
        [record.digest, record.dockerfileHash ?? "", escapeControls(record.baseImage ?? "")],
      ])
      .write();
  } catch (error) {
    if (error instanceof ExperimentInvalidError) for (const issue of error.issues) core.error(formatIssue(issue));
    core.setFailed(errorMessage(error));
  }
}
