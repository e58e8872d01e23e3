#!/usr/bin/env node
// Configures a GitHub repository for Crucible's GitOps loop, idempotently:
//   - the `evaluation` environment that .github/workflows/evaluate.yml waits in: required reviewers,
//     "prevent self-review", and deployments only from the default branch;
//   - GitHub Pages built by Actions (publish.yml);
//   - the workflow token read-only by default, and allowed to open pull requests (request.yml, and the
//     follow-up pull requests for results of fork PRs);
//   - workflow runs of fork pull requests wait for a maintainer's approval for every outside contributor
//     (GitHub's "Require approval for all external contributors", once called "all outside
//     collaborators"; the default asks it only of first-time contributors);
//   - with --require-check, a branch ruleset on the default branch that requires the crucible/evaluation
//     status: evaluate.yml sets it on every pull request (success when nothing needs evaluating), and the
//     record step sets it on the results commit too, so the check never stalls on a bot's push.
//
// Tokens (README, "Which token does what"): GitHub starts no workflow for an event its workflow token
// caused (workflow_dispatch aside). So the request form's pull request and the record step's results
// commit start the checks only when they are made with a GitHub App's installation token. To use one,
// create a GitHub App with repository permissions Contents: write and Pull requests: write, install it on
// the repository, and store its id and private key as the secrets CRUCIBLE_APP_ID and
// CRUCIBLE_APP_PRIVATE_KEY of the `crucible-app` environment this script creates (Settings → Environments),
// not of the repository: that environment is usable from the default branch only, so no pull request's
// own workflow and no old branch's copy of a workflow can read the key. Then pass --with-app. Without
// an App the form dispatches validate.yml and evaluate.yml for its pull request instead, and results
// commits carry the status; the workflow token must then be allowed to open pull requests.
//
// Usage:
//   GITHUB_TOKEN=… node runner-setup/configure-repo.mjs --repo owner/name --reviewer user:alice --reviewer team:safety [--require-check] [--dry-run]
// Options: --default-branch NAME (default: the repository's), --environment NAME (default evaluation),
//          --api-url URL (default $GITHUB_API_URL or https://api.github.com).
// --dry-run makes no request at all and prints, one JSON object per line, the calls it would make.
// The token needs repository Administration write (and Pages write); it is read from GITHUB_TOKEN.
import { Octokit } from "@octokit/rest";
import { fileURLToPath } from "node:url";

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const RULESET_NAME = "Crucible evaluation required";
const APP_ENVIRONMENT = "crucible-app";
/** The GitHub App behind every workflow's GITHUB_TOKEN (github-actions). */
const GITHUB_ACTIONS_APP_ID = 15368;
/** Every outside contributor's fork pull request waits for a maintainer before any workflow of it runs. */
export const FORK_APPROVAL = "all_external_contributors";

export function parseArgs(argv) {
  const options = {
    reviewers: [],
    environment: "evaluation",
    dryRun: false,
    apiUrl: process.env.GITHUB_API_URL || "https://api.github.com",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--repo") options.repo = value();
    else if (arg === "--reviewer") options.reviewers.push(value());
    else if (arg === "--default-branch") options.defaultBranch = value();
    else if (arg === "--environment") options.environment = value();
    else if (arg === "--api-url") options.apiUrl = value();
    else if (arg === "--dry-run") options.dryRun = true;
    else if (arg === "--require-check") options.requireCheck = true;
    else if (arg === "--with-app") options.withApp = true;
    else throw new Error(`unknown option ${arg}`);
  }
  const [owner, repo, ...rest] = (options.repo ?? "").split("/");
  if (!owner || !repo || rest.length > 0 || !NAME.test(owner) || !NAME.test(repo)) throw new Error("--repo owner/name is required");
  if (options.reviewers.length === 0)
    throw new Error("at least one --reviewer user:<login> or team:<org>/<slug> is required: the environment is the approval gate");
  if (options.reviewers.length > 6) throw new Error("GitHub allows at most 6 required reviewers per environment");
  const reviewers = options.reviewers.map((r) => {
    const match = /^(user|team):([A-Za-z0-9_.\/-]{1,100})$/.exec(r);
    if (!match) throw new Error(`--reviewer must be user:<login> or team:<org>/<slug>, got ${JSON.stringify(r)}`);
    if (match[1] === "team" && !/^[^/]+\/[^/]+$/.test(match[2]))
      throw new Error(`team reviewers are team:<org>/<slug>, got ${JSON.stringify(r)}`);
    return { kind: match[1], name: match[2] };
  });
  if (!NAME.test(options.environment)) throw new Error(`--environment ${JSON.stringify(options.environment)} is not a plain name`);
  return { ...options, owner, repo, reviewers };
}

/**
 * The calls, in order. `api.request(method, url, params)` either performs one (returning {status, data})
 * or, in a dry run, prints it and returns {status: "dry-run"}.
 */
export async function configure(options, api) {
  const { owner, repo, environment } = options;
  const dry = options.dryRun;
  const defaultBranch =
    options.defaultBranch ?? (dry ? "main" : (await api.request("GET", "/repos/{owner}/{repo}", { owner, repo })).data.default_branch);

  const reviewers = [];
  for (const reviewer of options.reviewers) {
    if (reviewer.kind === "user") {
      const { data } = await api.request("GET", "/users/{username}", { username: reviewer.name });
      reviewers.push({ type: "User", id: data?.id ?? 0 });
    } else {
      const [org, slug] = reviewer.name.split("/");
      const { data } = await api.request("GET", "/orgs/{org}/teams/{team_slug}", { org, team_slug: slug });
      reviewers.push({ type: "Team", id: data?.id ?? 0 });
    }
  }

  // PUT is create-or-update: running again converges to the same settings.
  await api.request("PUT", "/repos/{owner}/{repo}/environments/{environment_name}", {
    owner,
    repo,
    environment_name: environment,
    wait_timer: 0,
    prevent_self_review: true,
    reviewers,
    deployment_branch_policy: { protected_branches: false, custom_branch_policies: true },
  });
  const existing = dry
    ? []
    : (
        await api.request("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies", {
          owner,
          repo,
          environment_name: environment,
          per_page: 100,
        })
      ).data.branch_policies;
  if (!existing.some((p) => p.name === defaultBranch && (p.type ?? "branch") === "branch")) {
    await api.request("POST", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies", {
      owner,
      repo,
      environment_name: environment,
      name: defaultBranch,
      type: "branch",
    });
  }

  // The App's key lives here: secrets of an environment only the default branch may deploy to.
  await api.request("PUT", "/repos/{owner}/{repo}/environments/{environment_name}", {
    owner,
    repo,
    environment_name: APP_ENVIRONMENT,
    wait_timer: 0,
    deployment_branch_policy: { protected_branches: false, custom_branch_policies: true },
  });
  const appPolicies = dry
    ? []
    : (
        await api.request("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies", {
          owner,
          repo,
          environment_name: APP_ENVIRONMENT,
          per_page: 100,
        })
      ).data.branch_policies;
  if (!appPolicies.some((p) => p.name === defaultBranch && (p.type ?? "branch") === "branch")) {
    await api.request("POST", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies", {
      owner,
      repo,
      environment_name: APP_ENVIRONMENT,
      name: defaultBranch,
      type: "branch",
    });
  }

  let pages = null;
  if (!dry) {
    try {
      pages = (await api.request("GET", "/repos/{owner}/{repo}/pages", { owner, repo })).data;
    } catch (error) {
      if (error.status !== 404) throw error;
    }
  }
  if (pages === null) await api.request("POST", "/repos/{owner}/{repo}/pages", { owner, repo, build_type: "workflow" });
  else if (pages.build_type !== "workflow")
    await api.request("PUT", "/repos/{owner}/{repo}/pages", { owner, repo, build_type: "workflow" });

  // Without an App, the workflow token opens the form's pull requests and the follow-ups of fork results.
  await api.request("PUT", "/repos/{owner}/{repo}/actions/permissions/workflow", {
    owner,
    repo,
    default_workflow_permissions: "read",
    can_approve_pull_request_reviews: !options.withApp,
  });
  const forkApproval = "/repos/{owner}/{repo}/actions/permissions/fork-pr-contributor-approval";
  await api.request("PUT", forkApproval, { owner, repo, approval_policy: FORK_APPROVAL });

  if (options.requireCheck) {
    const ruleset = {
      name: RULESET_NAME,
      target: "branch",
      enforcement: "active",
      conditions: { ref_name: { include: ["~DEFAULT_BRANCH"], exclude: [] } },
      // Nobody bypasses it, and only GitHub Actions (the workflows' tokens) can set the status it requires.
      bypass_actors: [],
      rules: [
        {
          type: "required_status_checks",
          parameters: {
            strict_required_status_checks_policy: false,
            required_status_checks: [{ context: "crucible/evaluation", integration_id: GITHUB_ACTIONS_APP_ID }],
          },
        },
      ],
    };
    const existing = dry ? [] : (await api.request("GET", "/repos/{owner}/{repo}/rulesets", { owner, repo, per_page: 100 })).data;
    const ours = existing.find((r) => r.name === RULESET_NAME);
    if (ours) await api.request("PUT", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", { owner, repo, ruleset_id: ours.id, ...ruleset });
    else await api.request("POST", "/repos/{owner}/{repo}/rulesets", { owner, repo, ...ruleset });
  }
  return { defaultBranch, reviewers };
}

/** Prints each call as {method, path, body} with the path filled in, instead of making it. */
export function dryRunApi(print = (line) => process.stdout.write(`${line}\n`)) {
  return {
    async request(method, route, params) {
      const rest = { ...params };
      const path = route.replace(/\{([^}]+)\}/g, (_, name) => {
        const value = rest[name];
        delete rest[name];
        return encodeURIComponent(String(value));
      });
      const query = method === "GET" ? new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, String(v)])).toString() : "";
      print(JSON.stringify(method === "GET" ? { method, path: query ? `${path}?${query}` : path } : { method, path, body: rest }));
      return { status: "dry-run", data: undefined };
    },
  };
}

export function octokitApi(token, baseUrl) {
  const octokit = new Octokit({ auth: token, baseUrl, userAgent: "crucible-configure-repo" });
  return {
    async request(method, route, params) {
      const response = await octokit.request(`${method} ${route}`, params);
      process.stdout.write(`${method} ${route.replace(/\{([^}]+)\}/g, (_, n) => params[n])}: ${response.status}\n`);
      return response;
    },
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let api;
  if (options.dryRun) api = dryRunApi();
  else {
    const token = process.env.GITHUB_TOKEN;
    if (!token) throw new Error("GITHUB_TOKEN is not set (a token with repository Administration and Pages write), or use --dry-run");
    api = octokitApi(token, options.apiUrl);
  }
  const { defaultBranch } = await configure(options, api);
  process.stderr.write(
    `${options.dryRun ? "would configure" : "configured"} ${options.owner}/${options.repo}: environment ${options.environment} ` +
      `(reviewers required, no self-review, ${defaultBranch} only), Pages from Actions, ` +
      "fork pull requests of every outside contributor wait for approval" +
      `${options.requireCheck ? ", crucible/evaluation required on the default branch" : ""}\n` +
      "For pull requests from the request form and results commits to start checks, add a GitHub App's id and key as the secrets CRUCIBLE_APP_ID and CRUCIBLE_APP_PRIVATE_KEY (see the comment at the top of this file).\n",
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`configure-repo: ${error.message}\n`);
    process.exit(1);
  });
}
