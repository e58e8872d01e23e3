// The plan step of the GitOps loop: which experiments a pull request adds or changes, read from its head
// commit as data and validated with the BASE branch's schema, image recipes and checks. Nothing of the
// pull request is checked out, imported or executed here.
import { lstat, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { experimentsTouched } from "../changes.js";
import { CrucibleError, ExperimentInvalidError, type Issue } from "../errors.js";
import { EXPERIMENT_FILE_NAMES, loadExperiment, MAX_EXPERIMENT_FILE_BYTES, type Experiment } from "../experiment.js";
import { writeInside } from "../files.js";
import { imageLabel } from "../image-source.js";
import { assertCommitPresent, assertSha, changedPaths, git, listTree, readBlob, type GitTreeEntry } from "./git.js";
import { latestRecordedRun } from "./history.js";

/** Most bytes one experiment folder may hold at the planned commit (code and small data; models go elsewhere). */
export const DEFAULT_MAX_FOLDER_BYTES = 256 * 1024 * 1024;
export const DEFAULT_RUNNER_LABELS = ["self-hosted", "linux", "gvisor"];
export const GPU_LABEL = "gpu";

/** One job of the evaluate matrix. */
export interface PlanEntry {
  /** Repository-relative experiment file, e.g. experiments/hello-sandbox/experiment.yaml. */
  experiment: string;
  /** Its folder, e.g. experiments/hello-sandbox. */
  dir: string;
  name: string;
  gpus: number;
  "runs-on": string[];
  /** Actions artifact name for this job's results: unique per folder, only [a-z0-9-]. */
  artifact: string;
  /** The experiment brings a Dockerfile: the build job builds it on a hosted runner, the evaluate job loads it by digest. */
  build?: true;
}

export interface PlannedExperiment extends PlanEntry {
  image: string;
  /** Filled in by the announce job from the build job's image.json: what the reviewer approves. */
  builtImage?: { digest: string; dockerfileHash?: string; baseImage?: string };
  resources: Experiment["spec"]["resources"];
  /** Number of stages (0: a single program). */
  stages: number;
  /** Behaviours the experiment declares it needs, which monitoring will not raise: shown to the reviewer. */
  behaviours?: string[];
  estimate: RunEstimate;
}

/** Runner time one evaluation is expected to take. */
export interface RunEstimate {
  minutes: number;
  /** "previous run": how long the latest recorded run took; "timeout": never run, so the limit. */
  basis: "previous run" | "timeout";
  previousRunId?: string;
}

export interface Plan {
  base: string;
  head: string;
  experiments: PlannedExperiment[];
  /** Every problem found; a plan with issues must not run anything. */
  issues: Issue[];
  /** Changed paths that do not change what runs (actions/, .github/, schemas/, results…). */
  ignored: string[];
  /** The push that made `head` (since `before`) only added results: nothing to plan again. */
  resultsOnly: boolean;
  /** Recorded results the pull request changes, and the commits (not merges) that changed them. */
  results: { paths: string[]; commits: string[] };
}

export interface PlanOptions {
  /** A git repository holding both commits (the base checkout with the head commit fetched). */
  repository: string;
  base: string;
  head: string;
  /** The pull request's previous head (a synchronize event): a push that only adds results is recognised. */
  before?: string;
  /** Plan exactly these experiment folders (a rerun), whether the pull request changes them or not. */
  only?: string[];
  /** Trusted image recipes: those of the base checkout the action was loaded from. */
  imagesDir: string;
  runnerLabels?: string[];
  gpuLabel?: string;
  maxFolderBytes?: number;
}

/**
 * A name for the folder's Actions artifact: readable, only [a-z0-9-], and unique per folder even where
 * slugs collide (experiments/a-b and experiments/a/b), through a hash of the path.
 */
export function artifactName(dir: string): string {
  const slug = dir
    .replace(/^experiments\//, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
  return `result-${slug || "experiment"}-${createHash("sha256").update(dir).digest("hex").slice(0, 8)}`;
}

export async function planExperiments(options: PlanOptions): Promise<Plan> {
  const { repository } = options;
  const base = assertSha(options.base, "base SHA");
  const head = assertSha(options.head, "head SHA");
  await assertCommitPresent(repository, base, "the base commit");
  await assertCommitPresent(repository, head, "the pull request's head commit");
  const headTree = await listTree(repository, head, "experiments");
  const headFiles = new Set(headTree.map((e) => e.path));
  const touched = experimentsTouched(await changedPaths(repository, base, head), (file) => headFiles.has(file));
  const ignored = [...touched.ignored, ...touched.results];
  const results = {
    paths: touched.results,
    commits: touched.results.length > 0 ? await commitsTouching(repository, base, head, touched.results) : [],
  };
  if (!options.only && options.before && (await onlyAddsResults(repository, options.before, head, headFiles))) {
    return { base, head, experiments: [], issues: [], ignored, resultsOnly: true, results };
  }

  const scratch = await mkdtemp(path.join(os.tmpdir(), "crucible-plan-"));
  const experiments: PlannedExperiment[] = [];
  const issues: Issue[] = [];
  try {
    for (const [index, dir] of (options.only ?? touched.folders).entries()) {
      const entries = headTree.filter((e) => e.path.startsWith(`${dir}/`));
      const root = path.join(scratch, String(index));
      await mkdir(root);
      const outcome = await materializeEntries(repository, entries, dir, root, options.maxFolderBytes);
      if (outcome.issues.length > 0) {
        issues.push(...outcome.issues);
        continue;
      }
      try {
        const experiment = await loadExperiment(path.join(root, outcome.file), { imagesDir: options.imagesDir });
        const gpus = experiment.resources.gpus;
        const labels = options.runnerLabels ?? DEFAULT_RUNNER_LABELS;
        experiments.push({
          experiment: outcome.file,
          dir,
          name: experiment.spec.name,
          gpus,
          "runs-on": gpus > 0 ? [...labels, options.gpuLabel ?? GPU_LABEL] : [...labels],
          artifact: artifactName(dir),
          ...(experiment.image.kind === "build" ? { build: true as const } : {}),
          image: imageLabel(experiment.spec.image),
          resources: experiment.spec.resources,
          stages: experiment.stages?.length ?? 0,
          ...(experiment.spec.behaviours?.length ? { behaviours: experiment.spec.behaviours } : {}),
          // Only the base branch's runs: results in the pull request are its author's to write.
          estimate: await estimate(repository, base, dir, experiment),
        });
      } catch (error) {
        if (!(error instanceof ExperimentInvalidError)) throw error;
        issues.push(
          ...error.issues.map((issue) => ({
            ...issue,
            file: repoRelative(root, issue.file),
            message: issue.message.replaceAll(`${root}${path.sep}`, ""),
          })),
        );
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { base, head, experiments, issues, ignored, resultsOnly: false, results };
}

/** The commits between base and head, merges left out, that change any of these paths. */
async function commitsTouching(repository: string, base: string, head: string, paths: string[]): Promise<string[]> {
  const out = await git(repository, ["log", "--no-merges", "--format=%H", `${base}..${head}`, "--", ...paths.slice(0, 1000)]);
  return out.toString("utf8").split("\n").filter(Boolean);
}

/** Whether every path changed from `before` to `head` is inside an experiment's results/ (and something is). */
async function onlyAddsResults(repository: string, before: string, head: string, headFiles: Set<string>): Promise<boolean> {
  try {
    await git(repository, ["merge-base", "--is-ancestor", before, head]);
  } catch {
    return false; // not fetched, or a force push: plan as usual
  }
  const since = experimentsTouched(await changedPaths(repository, before, head, "two-dot"), (file) => headFiles.has(file));
  return since.results.length > 0 && since.folders.length === 0 && since.ignored.length === 0;
}

/** The latest recorded run's duration, else the sum of the timeouts: a run cannot take longer. */
async function estimate(repository: string, base: string, dir: string, experiment: Experiment): Promise<RunEstimate> {
  const previous = await latestRecordedRun(repository, base, dir, (r) => r.status === "succeeded");
  if (previous)
    return { minutes: Math.max(1, Math.ceil(previous.durationSeconds / 60)), basis: "previous run", previousRunId: previous.runId };
  const seconds = experiment.stages
    ? experiment.stages.reduce((sum, stage) => sum + stage.resources.timeoutSeconds, 0)
    : experiment.resources.timeoutSeconds;
  return { minutes: Math.max(1, Math.ceil(seconds / 60)), basis: "timeout" };
}

export interface MaterializeOptions {
  repository: string;
  commit: string;
  /** Experiment folder, e.g. experiments/hello-sandbox. */
  dir: string;
  /** Where to write it; the folder keeps its repository path below this root. Must not exist or be empty. */
  destination: string;
  maxFolderBytes?: number;
}

/**
 * Writes one experiment folder as it is at `commit` into `destination/<dir>`, as data: regular files
 * with mode 0644, symbolic links recreated as links (never followed; the experiment loader refuses any
 * input that goes through one), submodules left out. Returns the experiment file's path relative to
 * `destination`.
 */
export async function materializeExperiment(options: MaterializeOptions): Promise<string> {
  const commit = assertSha(options.commit, "the planned SHA");
  const dir = assertFolder(options.dir);
  await assertCommitPresent(options.repository, commit, "the planned commit");
  const entries = await listTree(options.repository, commit, dir);
  await mkdir(options.destination, { recursive: true });
  const outcome = await materializeEntries(
    options.repository,
    entries.filter((e) => e.path.startsWith(`${dir}/`)),
    dir,
    options.destination,
    options.maxFolderBytes,
  );
  if (outcome.issues.length > 0) throw new ExperimentInvalidError(outcome.issues);
  return outcome.file;
}

function assertFolder(dir: string): string {
  const parts = dir.replace(/\/+$/, "").split("/");
  if (parts[0] !== "experiments" || parts.length < 2 || parts.some((p) => p === "" || p === "." || p === ".." || p.startsWith(".git"))) {
    throw new CrucibleError(`experiment folder must be a path under experiments/, got ${JSON.stringify(dir)}`);
  }
  return parts.join("/");
}

async function materializeEntries(
  repository: string,
  entries: GitTreeEntry[],
  dir: string,
  destination: string,
  maxFolderBytes = DEFAULT_MAX_FOLDER_BYTES,
): Promise<{ file: string; issues: Issue[] }> {
  const issues: Issue[] = [];
  const at = (file: string, message: string) => issues.push({ file, line: 1, column: 1, message });
  // The nearest experiment file: the folder's own, not one of a nested experiment.
  const file = EXPERIMENT_FILE_NAMES.map((name) => `${dir}/${name}`).find((candidate) =>
    entries.some((e) => e.path === candidate && e.type === "blob"),
  );
  if (!file) {
    at(`${dir}/experiment.yaml`, "no experiment.yaml at the planned commit");
    return { file: "", issues };
  }
  const yaml = entries.find((e) => e.path === file)!;
  if (yaml.mode === "120000") at(file, "the experiment file is a symbolic link; it must be a regular file");
  else if ((yaml.size ?? 0) > MAX_EXPERIMENT_FILE_BYTES) {
    at(
      file,
      `the experiment file is ${yaml.size} bytes; the limit is ${MAX_EXPERIMENT_FILE_BYTES} (put ` +
        `data in input files instead). Nothing was read or run.`,
    );
  }
  // Results are never inputs (the loader refuses them) and can be large: they are not materialised.
  const wanted = entries.filter((e) => !e.path.startsWith(`${dir}/results/`));
  const total = wanted.reduce((sum, e) => sum + (e.size ?? 0), 0);
  if (total > maxFolderBytes) {
    const largest = [...wanted].sort((a, b) => (b.size ?? 0) - (a.size ?? 0))[0]!;
    at(
      file,
      `the experiment folder ${dir} holds ${total} bytes at the planned commit; the limit is ${maxFolderBytes} (largest: ` +
        `${largest.path}, ${largest.size} bytes). Nothing was read or run.`,
    );
  }
  if (issues.length > 0) return { file, issues };

  for (const entry of wanted) {
    if (entry.type === "commit") continue; // a submodule: nothing to read
    const relative = entry.path;
    if (entry.mode === "120000") {
      const target = (await readBlob(repository, entry.sha, 4096)).toString("utf8");
      const parent = path.join(destination, path.dirname(relative));
      await mkdir(parent, { recursive: true });
      if (!(await lstat(parent)).isDirectory()) throw new CrucibleError(`refusing ${relative}: its folder is not a plain folder`);
      await symlink(target, path.join(destination, relative));
      continue;
    }
    if (entry.type !== "blob") continue;
    await writeInside(destination, relative, await readBlob(repository, entry.sha, entry.size ?? maxFolderBytes));
  }
  return { file, issues };
}

function repoRelative(root: string, file: string): string {
  const relative = path.relative(root, path.resolve(root, file));
  return relative.startsWith("..") ? file : relative.split(path.sep).join("/");
}

/** The `strategy.matrix` value for the evaluate job. */
export function matrixOf(plan: Pick<Plan, "experiments">): { include: PlanEntry[] } {
  return {
    include: plan.experiments.map(({ experiment, dir, name, gpus, "runs-on": runsOn, artifact, build }) => ({
      experiment,
      dir,
      name,
      gpus,
      "runs-on": runsOn,
      artifact,
      ...(build ? { build } : {}),
    })),
  };
}

/** The build job's matrix: the planned experiments that bring a Dockerfile. */
export function buildMatrixOf(plan: Pick<Plan, "experiments">): { include: PlanEntry[] } {
  return { include: matrixOf(plan).include.filter((entry) => entry.build) };
}
