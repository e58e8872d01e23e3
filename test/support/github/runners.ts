// Self-hosted runners as GitHub keeps them, for the GitHub double (fake-github.ts): an organisation's
// runner groups (which repositories and which workflows may use them), just-in-time runner
// registrations, the repository's fork-PR approval setting, and which queued job a runner is given.
//
// The REST side is checked against the OpenAPI description by fake-github.ts like every other operation.
// The runner's own side (the runner application talking to the Actions service after it started with its
// JIT configuration) is not REST and has no public description: it is modelled here as four small calls
// under BROKER_PREFIX, enough for a stand-in runner to behave as the real one does at its boundary —
// one session per JIT configuration (the configuration is single-use), exactly one job, and the
// registration gone once that job completes.
import { randomBytes } from "node:crypto";
import type { Json, MatchedOperation, OpenApiContract } from "./openapi.js";

export const BROKER_PREFIX = "/_runner-broker";

export type ForkApprovalPolicy = "first_time_contributors_new_to_github" | "first_time_contributors" | "all_external_contributors";

export interface FakeRunnerGroup {
  id: number;
  name: string;
  default: boolean;
  visibility: "all" | "selected" | "private";
  repositoryIds: number[];
  allowsPublicRepositories: boolean;
  restrictedToWorkflows: boolean;
  /** owner/repo/path@ref entries; a ref may be a branch name, refs/heads/<branch> or a commit. */
  selectedWorkflows: string[];
}

export interface FakeRunner {
  id: number;
  name: string;
  /** A repository's runner (always in the default group) or an organisation's (in one of its groups). */
  scope: "repository" | "organization";
  groupId: number;
  labels: string[];
  workFolder: string;
  status: "online" | "offline";
  busy: boolean;
  /** What the JIT configuration carries for the runner to authenticate with; spent by its first session. */
  credential: string;
  sessionStarted: boolean;
  jobId?: number;
}

/** A job waiting for a runner: its labels (runs-on) and the workflow file it belongs to. */
export interface QueuedJob {
  id: number;
  /** owner/repo/.github/workflows/<file>@refs/heads/<branch>, as GitHub names the job's workflow. */
  workflowRef: string;
  labels: string[];
  /** What the stand-in runner does for this job (test-defined). */
  steps: Json;
  status: "queued" | "in_progress" | "completed";
  runnerName?: string;
  conclusion?: string;
}

export interface RunnerSite {
  owner: string;
  repo: string;
  repositoryId: number;
  repositoryPrivate: boolean;
  url(): string;
  ownerJson(): Json;
  contract: OpenApiContract;
  nextId(): number;
}

const DOCS = "https://docs.github.com/rest/actions/self-hosted-runners";
const DEFAULT_GROUP = 1;

export class FakeRunners {
  readonly groups: FakeRunnerGroup[] = [];
  readonly runners = new Map<number, FakeRunner>();
  readonly jobs: QueuedJob[] = [];
  /** GitHub's default for a new repository. */
  forkApproval: ForkApprovalPolicy = "first_time_contributors";
  /** Every registration ever made, for tests that look at what a supervisor asked for. */
  readonly registered: FakeRunner[] = [];

  constructor(private readonly site: RunnerSite) {
    this.groups.push({
      id: DEFAULT_GROUP,
      name: "Default",
      default: true,
      visibility: "all",
      repositoryIds: [],
      allowsPublicRepositories: false,
      restrictedToWorkflows: false,
      selectedWorkflows: [],
    });
  }

  /** A job of this repository waiting for a runner with these labels. */
  queueJob(job: { workflowRef: string; labels: string[]; steps?: Json }): QueuedJob {
    const queued: QueuedJob = { id: this.site.nextId(), ...job, steps: job.steps ?? {}, status: "queued" };
    this.jobs.push(queued);
    return queued;
  }

  /** Why this runner would not be given this job, or undefined when it would. */
  whyNot(runner: FakeRunner, job: QueuedJob): string | undefined {
    const have = new Set(runner.labels.map((l) => l.toLowerCase()));
    const missing = job.labels.filter((l) => !have.has(l.toLowerCase()));
    if (missing.length > 0) return `the runner lacks the labels ${missing.join(", ")}`;
    if (runner.scope === "repository") return undefined;
    const group = this.groups.find((g) => g.id === runner.groupId);
    if (!group) return "the runner's group no longer exists";
    if (group.visibility === "selected" && !group.repositoryIds.includes(this.site.repositoryId)) {
      return `the group ${group.name} is not shared with the repository`;
    }
    if (group.visibility === "private" && !this.site.repositoryPrivate) return `the group ${group.name} serves private repositories only`;
    if (!this.site.repositoryPrivate && !group.allowsPublicRepositories) {
      return `the group ${group.name} does not allow public repositories`;
    }
    if (group.restrictedToWorkflows && !group.selectedWorkflows.some((w) => sameWorkflow(w, job.workflowRef))) {
      return `the group ${group.name} is restricted to ${group.selectedWorkflows.join(", ") || "no workflow"}`;
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // REST
  // ---------------------------------------------------------------------------------------------

  /** Serves the runner operations; undefined for any other operation. */
  respond(op: MatchedOperation, body: Json): [number, unknown] | undefined {
    const notFound: [number, unknown] = [404, { message: "Not Found", documentation_url: DOCS, status: "404" }];
    const org = op.path.org !== undefined;
    const scope = org ? "organization" : "repository";
    switch (op.operationId) {
      case "actions/get-fork-pr-contributor-approval-permissions-repository":
        return [200, { approval_policy: this.forkApproval }];
      case "actions/set-fork-pr-contributor-approval-permissions-repository":
        this.forkApproval = body.approval_policy;
        return [204, undefined];

      case "actions/generate-runner-jitconfig-for-repo":
      case "actions/generate-runner-jitconfig-for-org": {
        // A repository's runners have no groups of their own: only the default group's id is accepted.
        const group = this.groups.find((g) => g.id === body.runner_group_id && (org || g.default));
        if (!group) return notFound;
        if (this.list(scope).some((r) => r.name === body.name)) {
          const message = `Already exists - A runner with the name ${body.name} already exists.`;
          return [409, { message, documentation_url: DOCS, status: "409" }];
        }
        const runner: FakeRunner = {
          id: this.site.nextId(),
          name: body.name,
          scope,
          groupId: group.id,
          labels: body.labels,
          workFolder: body.work_folder ?? "_work",
          status: "offline",
          busy: false,
          credential: randomBytes(16).toString("hex"),
          sessionStarted: false,
        };
        this.runners.set(runner.id, runner);
        this.registered.push(runner);
        return [201, { runner: this.runnerJson(runner), encoded_jit_config: this.jitConfig(runner) }];
      }
      case "actions/list-self-hosted-runners-for-repo":
      case "actions/list-self-hosted-runners-for-org": {
        const found = this.list(scope).filter((r) => op.query.name === undefined || r.name === op.query.name);
        return [200, { total_count: found.length, runners: found.map((r) => this.runnerJson(r)) }];
      }
      case "actions/get-self-hosted-runner-for-repo":
      case "actions/get-self-hosted-runner-for-org": {
        const runner = this.runners.get(Number(op.path.runner_id));
        return runner && runner.scope === scope ? [200, this.runnerJson(runner)] : notFound;
      }
      case "actions/delete-self-hosted-runner-from-repo":
      case "actions/delete-self-hosted-runner-from-org": {
        const runner = this.runners.get(Number(op.path.runner_id));
        if (!runner || runner.scope !== scope) return notFound;
        if (runner.busy) return [422, { message: `Bad request - Runner "${runner.name}" is still running a job`, documentation_url: DOCS }];
        this.runners.delete(runner.id);
        return [204, undefined];
      }

      case "actions/list-self-hosted-runner-groups-for-org":
        return [200, { total_count: this.groups.length, runner_groups: this.groups.map((g) => this.groupJson(g)) }];
      case "actions/create-self-hosted-runner-group-for-org": {
        if (this.groups.some((g) => g.name === body.name)) {
          return [409, { message: "Name has already been taken", documentation_url: DOCS }];
        }
        const group: FakeRunnerGroup = {
          id: this.site.nextId(),
          name: body.name,
          default: false,
          visibility: body.visibility ?? "all",
          repositoryIds: body.selected_repository_ids ?? [],
          allowsPublicRepositories: body.allows_public_repositories ?? false,
          restrictedToWorkflows: body.restricted_to_workflows ?? false,
          selectedWorkflows: body.selected_workflows ?? [],
        };
        this.groups.push(group);
        return [201, this.groupJson(group)];
      }
      case "actions/update-self-hosted-runner-group-for-org": {
        const group = this.groups.find((g) => g.id === Number(op.path.runner_group_id));
        if (!group) return notFound;
        group.name = body.name;
        if (body.visibility !== undefined) group.visibility = body.visibility;
        if (body.allows_public_repositories !== undefined) group.allowsPublicRepositories = body.allows_public_repositories;
        if (body.restricted_to_workflows !== undefined) group.restrictedToWorkflows = body.restricted_to_workflows;
        if (body.selected_workflows !== undefined) group.selectedWorkflows = body.selected_workflows;
        return [200, this.groupJson(group)];
      }
      case "actions/list-repo-access-to-self-hosted-runner-group-in-org": {
        const group = this.groups.find((g) => g.id === Number(op.path.runner_group_id));
        if (!group) return notFound;
        // Other repositories of the organisation are known here by their ids only.
        const repositories = group.repositoryIds.map((id) => this.minimalRepository(id));
        return [200, { total_count: repositories.length, repositories }];
      }
      case "actions/set-repo-access-to-self-hosted-runner-group-in-org": {
        const group = this.groups.find((g) => g.id === Number(op.path.runner_group_id));
        if (!group) return notFound;
        group.repositoryIds = body.selected_repository_ids;
        return [204, undefined];
      }
      default:
        return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The runner's side (not REST): session, job, completion
  // ---------------------------------------------------------------------------------------------

  /** One call of a runner started with a JIT configuration; `credential` is the one its configuration carries. */
  broker(method: string, pathname: string, credential: string, body: Json): [number, unknown] {
    const runner = [...this.runners.values()].find((r) => r.credential === credential);
    const route = `${method} ${pathname.slice(BROKER_PREFIX.length)}`;
    if (route === "POST /sessions") {
      // A configuration starts one session, ever: it is single-use, and a deleted registration has none.
      if (!runner || runner.sessionStarted) return [401, { message: "The runner registration was used already or has been deleted." }];
      runner.sessionStarted = true;
      runner.status = "online";
      return [201, { runnerId: runner.id, name: runner.name }];
    }
    if (!runner || !runner.sessionStarted) return [401, { message: "No session." }];
    if (route === "GET /job") {
      if (runner.jobId === undefined) {
        const job = this.jobs.find((j) => j.status === "queued" && this.whyNot(runner, j) === undefined);
        if (!job) return [204, undefined];
        job.status = "in_progress";
        job.runnerName = runner.name;
        runner.jobId = job.id;
        runner.busy = true;
      }
      const job = this.jobs.find((j) => j.id === runner.jobId)!;
      return [200, { id: job.id, workflowRef: job.workflowRef, steps: job.steps }];
    }
    if (route === "POST /job/complete") {
      const job = this.jobs.find((j) => j.id === runner.jobId);
      if (!job) return [409, { message: "No job is assigned to this runner." }];
      job.status = "completed";
      job.conclusion = String(body.conclusion ?? "success");
      // An ephemeral runner is removed from the repository or organisation once its job is done.
      this.runners.delete(runner.id);
      return [204, undefined];
    }
    if (route === "DELETE /sessions") {
      runner.status = "offline";
      return [204, undefined];
    }
    return [404, { message: `no such broker call: ${route}` }];
  }

  // ---------------------------------------------------------------------------------------------

  private list(scope: FakeRunner["scope"]): FakeRunner[] {
    return [...this.runners.values()].filter((r) => r.scope === scope);
  }

  /**
   * The runner application's configuration files, as the real encoded_jit_config carries them: base64 of
   * a JSON map from file name (.runner, .credentials) to that file's base64 content. The real
   * .credentials holds an OAuth client and its RSA key; here it holds the broker credential.
   */
  private jitConfig(runner: FakeRunner): string {
    const file = (value: Json) => Buffer.from(JSON.stringify(value)).toString("base64");
    const scopeUrl = `https://github.com/${this.site.owner}${runner.scope === "organization" ? "" : `/${this.site.repo}`}`;
    const files = {
      ".runner": file({
        AgentId: runner.id,
        AgentName: runner.name,
        PoolId: runner.groupId,
        ServerUrl: `${this.site.url()}${BROKER_PREFIX}`,
        GitHubUrl: scopeUrl,
        WorkFolder: runner.workFolder,
        Ephemeral: true,
        DisableUpdate: true,
      }),
      ".credentials": file({ Scheme: "Bearer", Data: { token: runner.credential } }),
    };
    return Buffer.from(JSON.stringify(files)).toString("base64");
  }

  private runnerJson(runner: FakeRunner): Json {
    return this.site.contract.component("runner", {
      id: runner.id,
      runner_group_id: runner.groupId,
      name: runner.name,
      os: "linux",
      status: runner.status,
      busy: runner.busy,
      ephemeral: true,
      labels: runner.labels.map((name, i) => ({ id: i + 1, name, type: "custom" })),
    });
  }

  private groupJson(group: FakeRunnerGroup): Json {
    const api = `${this.site.url()}/orgs/${this.site.owner}/actions/runner-groups/${group.id}`;
    return this.site.contract.component("runner-groups-org", {
      id: group.id,
      name: group.name,
      visibility: group.visibility,
      default: group.default,
      runners_url: `${api}/runners`,
      ...(group.visibility === "selected" ? { selected_repositories_url: `${api}/repositories` } : {}),
      inherited: false,
      allows_public_repositories: group.allowsPublicRepositories,
      restricted_to_workflows: group.restrictedToWorkflows,
      selected_workflows: group.selectedWorkflows,
      workflow_restrictions_read_only: false,
    });
  }

  private minimalRepository(id: number): Json {
    const name = id === this.site.repositoryId ? this.site.repo : `repository-${id}`;
    return this.site.contract.component("minimal-repository", {
      id,
      name,
      full_name: `${this.site.owner}/${name}`,
      owner: this.site.ownerJson(),
      private: id === this.site.repositoryId ? this.site.repositoryPrivate : true,
    });
  }
}

/** Workflow references compare on owner/repo/path and ref, where `main` and `refs/heads/main` are the same ref. */
function sameWorkflow(selected: string, job: string): boolean {
  const normal = (ref: string) => {
    const at = ref.lastIndexOf("@");
    if (at < 0) return ref;
    return `${ref.slice(0, at)}@${ref.slice(at + 1).replace(/^refs\/heads\//, "")}`;
  };
  return normal(selected) === normal(job);
}
