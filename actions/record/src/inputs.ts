import path from "node:path";
import * as core from "@actions/core";
import { CrucibleError } from "../../lib/src/index.js";
import { type EvaluationPlan, parsePlan } from "../../lib/src/github/index.js";

/** The action's inputs, read and checked once. */
export interface RecordInputs {
  mode: "announce" | "preflight" | "record" | "preview";
  owner: string;
  repo: string;
  plan: EvaluationPlan;
  /** The workflow's token: comments, statuses, reading the run's reviews. */
  token: string;
  /** The token the results commit is pushed with (an App token starts the pull request's checks again). */
  pushToken: string;
  artifacts: string;
  evaluation: string;
  /** announce: folder of the build job's image-* artifacts (each with image.json), or "". */
  images: string;
  /** preflight: the artifact name the evaluate job uploads the experiment's results under. */
  resultArtifact: string;
  previewUrl?: string;
  /** preview: the folder that becomes the site's repository root. */
  destination: string;
  workspace: string;
  runId: number;
  attempt: number;
}

export function getInputs(): RecordInputs {
  const env = process.env;
  const workspace = env.GITHUB_WORKSPACE || process.cwd();
  const mode = core.getInput("mode") || "record";
  if (mode !== "announce" && mode !== "preflight" && mode !== "record" && mode !== "preview")
    throw new CrucibleError(`mode must be announce, preflight, record or preview, got ${JSON.stringify(mode)}`);
  const [owner, repo, ...rest] = (env.GITHUB_REPOSITORY ?? "").split("/");
  if (!owner || !repo || rest.length > 0)
    throw new CrucibleError(`GITHUB_REPOSITORY must be owner/repo, got ${JSON.stringify(env.GITHUB_REPOSITORY ?? "")}`);
  const token = core.getInput("token");
  if (!token) throw new CrucibleError("the token input is required (the preview also reads the run's reviews and jobs)");
  const pushToken = core.getInput("push-token") || token;
  for (const secret of new Set([token, pushToken])) if (secret) core.setSecret(secret);
  const previewUrl = core.getInput("preview-url");
  if (previewUrl && !/^https?:\/\//.test(previewUrl))
    throw new CrucibleError(`preview-url must be an http(s) URL, got ${JSON.stringify(previewUrl)}`);
  const runId = Number(env.GITHUB_RUN_ID ?? "0");
  const plan = parsePlan(core.getInput("plan", { required: true }));
  const resultArtifact = core.getInput("result-artifact");
  if (mode === "preflight" && !plan.experiments.some((e) => e.artifact === resultArtifact))
    throw new CrucibleError(
      `preflight: result-artifact must be the artifact of a planned experiment ` +
        `(${plan.experiments.map((e) => e.artifact).join(", ")}), got ${JSON.stringify(resultArtifact)}`,
    );
  return {
    mode,
    owner,
    repo,
    plan,
    resultArtifact,
    token,
    pushToken,
    artifacts: path.resolve(workspace, core.getInput("artifacts") || path.join(env.RUNNER_TEMP || "", "artifacts")),
    evaluation: core.getInput("evaluation") || "success",
    images: core.getInput("images") ? path.resolve(workspace, core.getInput("images")) : "",
    ...(previewUrl ? { previewUrl } : {}),
    destination: path.resolve(workspace, core.getInput("destination") || path.join(env.RUNNER_TEMP || "", "preview")),
    workspace,
    runId,
    attempt: Number(env.GITHUB_RUN_ATTEMPT ?? "1"),
  };
}
