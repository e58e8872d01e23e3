import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import * as core from "@actions/core";
import { getExecOutput } from "@actions/exec";
// The core and GitHub entries only: this bundle does not carry the Docker client.
import {
  type Experiment,
  EXPERIMENT_FILE_NAMES,
  ExperimentInvalidError,
  experimentsTouched,
  findExperimentFiles,
  formatIssue,
  imageLabel,
  imagesDirOf,
  installRoot,
  type Issue,
  loadExperiment,
  errorMessage,
} from "../../lib/src/index.js";
import { escapeMarkdown } from "../../lib/src/github/index.js";
import { getInputs, type ValidateInputs } from "./inputs.js";

interface Checked {
  file: string;
  name: string;
  valid: boolean;
  image?: string;
  resources?: Experiment["spec"]["resources"];
  issues: Issue[];
}

export async function run(): Promise<void> {
  try {
    const inputs = getInputs();
    const { workspace } = inputs;
    const files = await selectFiles(inputs);
    const checked: Checked[] = [];
    for (const file of files) checked.push(await check(workspace, file));

    for (const { issues } of checked) {
      for (const issue of issues) {
        core.error(issue.message, { title: "Invalid experiment", file: issue.file, startLine: issue.line, startColumn: issue.column });
      }
    }
    await writeSummary(checked);
    const valid = checked.every((c) => c.valid);
    core.setOutput("valid", String(valid));
    core.setOutput("experiments", JSON.stringify(checked.map(({ issues: _issues, ...rest }) => rest)));
    if (!valid) core.setFailed(`${checked.filter((c) => !c.valid).length} of ${checked.length} experiment file(s) are invalid`);
    else core.info(`${checked.length} experiment file(s) are valid`);
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}

async function check(workspace: string, file: string): Promise<Checked> {
  const relative = path.relative(workspace, file).split(path.sep).join("/");
  try {
    const experiment = await loadExperiment(file, { imagesDir: imagesDirOf(installRoot(import.meta.url)) });
    return {
      file: relative,
      name: experiment.spec.name,
      valid: true,
      image: imageLabel(experiment.spec.image),
      resources: experiment.spec.resources,
      issues: [],
    };
  } catch (error) {
    if (!(error instanceof ExperimentInvalidError)) throw error;
    // Annotations need paths relative to the repository root.
    const issues = error.issues.map((issue) => ({
      ...issue,
      file: path.relative(workspace, path.resolve(workspace, issue.file)).split(path.sep).join("/"),
    }));
    return { file: relative, name: path.basename(path.dirname(file)), valid: false, issues };
  }
}

/** Explicit paths, else the experiments a pull request touches, else everything under experiments/. */
async function selectFiles({ workspace, paths, eventPath }: ValidateInputs): Promise<string[]> {
  if (paths.length > 0) return findExperimentFiles(paths.map((p) => path.resolve(workspace, p)));
  const all = () => findExperimentFiles([path.join(workspace, "experiments")]);
  const event = await readEvent(eventPath);
  const base = event?.pull_request?.base?.sha;
  const head = event?.pull_request?.head?.sha;
  if (!base || !head) return all();
  const diff = await getExecOutput("git", ["diff", "--name-only", "-z", "--no-renames", base, head, "--"], {
    cwd: workspace,
    ignoreReturnCode: true,
    silent: true,
  });
  if (diff.exitCode !== 0) {
    core.warning(
      `cannot list the pull request's changes (git diff ${base} ${head} failed: ${diff.stderr.trim()}); ` +
        `checking every experiment. Check out with fetch-depth: 0.`,
    );
    return all();
  }
  const touched = experimentsTouched(diff.stdout.split("\0").filter(Boolean), (file) => existsSync(path.join(workspace, file)));
  if (touched.schemas) return all();
  core.info(`the pull request touches ${touched.folders.length} experiment(s)`);
  return touched.folders.map((dir) =>
    path.join(
      workspace,
      dir,
      EXPERIMENT_FILE_NAMES.find((name) => existsSync(path.join(workspace, dir, name)))!,
    ),
  );
}

async function readEvent(
  eventPath: string | undefined,
): Promise<{ pull_request?: { base?: { sha?: string }; head?: { sha?: string } } } | undefined> {
  if (!eventPath) return undefined;
  return JSON.parse(await readFile(eventPath, "utf8"));
}

/**
 * The summary quotes the pull request's files (names, paths, values in messages), and core.summary writes
 * HTML as given: every cell goes through escapeMarkdown, as in the run action's summary.
 */
async function writeSummary(checked: Checked[]): Promise<void> {
  const cell = (text: string) => ({ data: escapeMarkdown(text) });
  const rows = checked.map((c) => [
    cell(c.valid ? "✅ valid" : `❌ ${c.issues.length} problem(s)`),
    cell(c.name),
    cell(c.file),
    cell(c.image ?? ""),
    cell(c.resources ? `${c.resources.cpus} CPU, ${c.resources.memory}, ${c.resources.gpus ?? 0} GPU` : ""),
    cell(c.resources?.timeout ?? ""),
  ]);
  core.summary.addHeading("Experiments checked", 2);
  if (checked.length === 0) core.summary.addRaw("No experiment files were changed.", true);
  else {
    core.summary.addTable([
      [
        { data: "Result", header: true },
        { data: "Experiment", header: true },
        { data: "File", header: true },
        { data: "Image", header: true },
        { data: "Resources", header: true },
        { data: "Timeout", header: true },
      ],
      ...rows,
    ]);
  }
  const problems = checked.flatMap((c) => c.issues);
  if (problems.length > 0) core.summary.addList(problems.map((i) => escapeMarkdown(formatIssue(i))));
  await core.summary.write();
}
