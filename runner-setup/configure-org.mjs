#!/usr/bin/env node
// Configures the organisation that owns a Crucible repository for its sandboxing runners, idempotently:
// one runner group (default crucible-evaluate) that
//   - only that repository may use (visibility "selected", the repository's id and no other);
//   - runs only the evaluate workflow as the default branch has it (restricted_to_workflows, with
//     selected_workflows = ["<org>/<repo>/.github/workflows/evaluate.yml@refs/heads/<default branch>"]), so
//     no other workflow, no pull request's copy of a workflow and no other branch gets these runners;
//   - allows public repositories only when the repository is public (GitHub gives a group's runners to a
//     public repository's jobs only then; it also advises self-hosted runners for private repositories).
// Register the hosts into the group with jit-runner.mjs --org ORG --runner-group NAME (or the ARC values in
// runner-setup/kubernetes/). Run configure-repo.mjs too: the environment, and the fork-PR approval policy.
//
// Runner groups are an organisation feature. A repository owned by a user account has none: its runners
// (jit-runner.mjs --repo) can be used by every workflow of that repository, on any branch — see
// runner-setup/README.md, "A repository without an organisation".
//
// Usage:
//   GITHUB_TOKEN=… node runner-setup/configure-org.mjs --org ORG --repo NAME [--group NAME]
//        [--workflow .github/workflows/evaluate.yml] [--api-url URL] [--dry-run]
// The token needs the organisation's Self-hosted runners write permission (a classic token: admin:org) and
// read access to the repository. --dry-run reads the current settings (GET requests only) and prints, one
// JSON object per line, the changes it would make; a configured organisation gets none.
import { fileURLToPath } from "node:url";
import { Octokit } from "@octokit/rest";
import { dryRunApi, octokitApi } from "./configure-repo.mjs";
import { DEFAULT_GROUP } from "./jit-runner.mjs";

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const WORKFLOW = /^\.github\/workflows\/[A-Za-z0-9_.-]+\.ya?ml$/;

export function parseArgs(argv, env = process.env) {
  const apiUrl = env.GITHUB_API_URL || "https://api.github.com";
  const options = { group: DEFAULT_GROUP, workflow: ".github/workflows/evaluate.yml", dryRun: false, apiUrl };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--org") options.org = value();
    else if (arg === "--repo") options.repo = value();
    else if (arg === "--group") options.group = value();
    else if (arg === "--workflow") options.workflow = value();
    else if (arg === "--api-url") options.apiUrl = value();
    else if (arg === "--dry-run") options.dryRun = true;
    else throw new Error(`unknown option ${arg}`);
  }
  if (!NAME.test(options.org ?? "")) throw new Error("--org ORG is required: the organisation that owns the repository");
  if (!NAME.test(options.repo ?? "")) throw new Error("--repo NAME is required: the repository's name within the organisation");
  if (!NAME.test(options.group)) throw new Error(`--group ${JSON.stringify(options.group)} is not a plain name`);
  if (!WORKFLOW.test(options.workflow)) throw new Error(`--workflow must name a file in .github/workflows/, not ${options.workflow}`);
  return options;
}

/** Reads the current settings and makes (or, in a dry run, prints) only the changes needed. Returns what it found. */
export async function configure(options, api) {
  const { org, repo } = options;
  let repository;
  try {
    repository = (await api.request("GET", "/repos/{owner}/{repo}", { owner: org, repo })).data;
  } catch (error) {
    if (error.status === 404) throw new Error(`${org}/${repo} was not found (or the token cannot see it)`);
    throw error;
  }
  if (repository.owner?.type !== "Organization") {
    throw new Error(
      `${org} is a user account, not an organisation: runner groups are an organisation feature. ` +
        "Register this repository's runners at the repository (jit-runner.mjs --repo) and read runner-setup/README.md, " +
        '"A repository without an organisation", for what that setup does not restrict.',
    );
  }
  const selectedWorkflow = `${org}/${repo}/${options.workflow}@refs/heads/${repository.default_branch}`;
  const wanted = {
    name: options.group,
    visibility: "selected",
    allows_public_repositories: !repository.private,
    restricted_to_workflows: true,
    selected_workflows: [selectedWorkflow],
  };

  const groups = await listAll(api, "/orgs/{org}/actions/runner-groups", { org }, "runner_groups");
  const group = groups.find((g) => g.name === options.group);
  if (!group) {
    await api.request("POST", "/orgs/{org}/actions/runner-groups", { org, ...wanted, selected_repository_ids: [repository.id] });
    return { repository, selectedWorkflow, created: true };
  }
  if (group.workflow_restrictions_read_only) {
    throw new Error(`the runner group ${options.group}'s workflow restrictions are set by the enterprise and cannot be changed here`);
  }
  const current = {
    name: group.name,
    visibility: group.visibility,
    allows_public_repositories: group.allows_public_repositories,
    restricted_to_workflows: group.restricted_to_workflows ?? false,
    selected_workflows: group.selected_workflows ?? [],
  };
  if (JSON.stringify(current) !== JSON.stringify(wanted)) {
    await api.request("PATCH", "/orgs/{org}/actions/runner-groups/{runner_group_id}", { org, runner_group_id: group.id, ...wanted });
  }
  const path = "/orgs/{org}/actions/runner-groups/{runner_group_id}/repositories";
  const repositories = await listAll(api, path, { org, runner_group_id: group.id }, "repositories");
  if (repositories.length !== 1 || repositories[0].id !== repository.id) {
    await api.request("PUT", path, { org, runner_group_id: group.id, selected_repository_ids: [repository.id] });
  }
  return { repository, selectedWorkflow, created: false };
}

async function listAll(api, route, params, key) {
  const all = [];
  for (let page = 1; ; page++) {
    const { data } = await api.request("GET", route, { ...params, per_page: 100, page });
    all.push(...data[key]);
    if (data[key].length < 100) return all;
  }
}

/** GET requests are made (a dry run still reads the current settings); every other call is printed instead. */
export function readOnlyApi(live, print) {
  const printer = dryRunApi(print);
  return {
    request(method, route, params) {
      return method === "GET" ? live.request(method, route, params) : printer.request(method, route, params);
    },
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const token = process.env.GITHUB_TOKEN;
  if (!token) throw new Error("GITHUB_TOKEN is not set: a token with the organisation's Self-hosted runners write permission");
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const octokit = new Octokit({ auth: token, baseUrl: options.apiUrl, log: quiet });
  // A dry run's stdout holds only the calls it would make; a real run logs each call it makes.
  const quietApi = { request: (method, route, params) => octokit.request(`${method} ${route}`, params) };
  const live = options.dryRun ? quietApi : octokitApi(token, options.apiUrl);
  const api = options.dryRun ? readOnlyApi(live) : live;
  const { repository, selectedWorkflow } = await configure(options, api);
  process.stderr.write(
    `${options.dryRun ? "would configure" : "configured"} the runner group ${options.group} of ${options.org}: ` +
      `only ${options.org}/${options.repo}, only ${selectedWorkflow}` +
      `${repository.private ? "" : " (a public repository: the group allows public repositories)"}\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`configure-org: ${error.message}\n`);
    process.exit(1);
  });
}
