// The GitHub side of an evaluation's life: announcing the plan to reviewers (a pending commit status and
// the comment), and recording what ran (one commit of the accepted results, the statuses, the comment
// with each run against the default branch) or saying why nothing ran.
import { writeInside } from "../files.js";
import { escapeControls } from "../text.js";
import type { EvaluationPlan } from "../gitops/evaluation.js";
import { latestRecordedRun } from "../gitops/history.js";
import type { Approval } from "../result/format.js";
import { acceptArtifacts, runAuthority, type AcceptedRun, type DroppedEntry } from "./artifacts.js";
import type { GitHubClient } from "./client.js";
import { upsertStickyComment, type StickyCommentOutcome } from "./comment.js";
import { commitFiles, type CommitOutcome } from "./commit.js";
import { EVALUATION_MARKER, renderEvaluationComment, type CommentState, type NotRunReason, type ResultRow } from "./evaluation-comment.js";
import { pullRequestHead } from "./runs.js";
import { setCommitStatus, type CommitState } from "./status.js";

/** The commit status a branch ruleset can require: pending while awaiting approval or running, then the outcome. */
export const STATUS_CONTEXT = "crucible/evaluation";

export interface Where {
  owner: string;
  repo: string;
  info?: (message: string) => void;
}

/** At plan time: the status reviewers see on the head commit and the comment saying what awaits approval. */
export async function announceEvaluation(
  octokit: GitHubClient,
  where: Where,
  plan: EvaluationPlan,
): Promise<{ state?: CommitState; comment?: StickyCommentOutcome }> {
  const { owner, repo, info = () => {} } = where;
  const status = (state: CommitState, description: string, sha = plan.head) =>
    setCommitStatus(octokit, { owner, repo, sha, state, context: STATUS_CONTEXT, description, targetUrl: plan.workflowRunUrl });
  const comment = (body: CommentState, create: boolean) =>
    upsertStickyComment(octokit, {
      owner,
      repo,
      issueNumber: plan.pullRequest,
      marker: EVALUATION_MARKER,
      body: renderEvaluationComment(body),
      create,
    });
  const n = plan.experiments.length;
  switch (plan.state) {
    case "planned": {
      const minutes = plan.experiments.reduce((sum, e) => sum + e.estimate.minutes, 0);
      await status("pending", `Awaiting approval: ${n} experiment${n === 1 ? "" : "s"}, about ${minutes} runner-minutes`);
      return { state: "pending", comment: await comment({ kind: "plan", plan }, true) };
    }
    case "invalid":
      await status("failure", `${plan.issues.length} problem(s) in the experiments; nothing will run`);
      return { state: "failure", comment: await comment({ kind: "plan", plan }, true) };
    case "nothing":
      await status("success", "Nothing to evaluate: no experiment changed");
      return { state: "success", comment: await comment({ kind: "plan", plan }, false) };
    case "results-only": {
      // The push only added results: the evaluation of the commit before it still holds for this one.
      const previous = plan.before ? await latestStatus(octokit, where, plan.before) : undefined;
      if (!previous) return {};
      await status(previous.state, previous.description, plan.head);
      info(`results-only push: carried ${previous.state} over from ${plan.before}`);
      return { state: previous.state };
    }
    case "closed":
    case "cancel-requested": {
      const current = await latestStatus(octokit, where, plan.head);
      if (current?.state !== "pending") return {};
      const reason: NotRunReason = plan.state === "closed" ? "closed" : "cancelled";
      const detail =
        plan.state === "closed"
          ? "The pull request was closed; its evaluation was cancelled."
          : `${plan.trigger}: the evaluation was cancelled.`;
      await status("error", detail);
      return { state: "error", comment: await comment({ kind: "not-run", plan, reason, detail, dropped: [] }, false) };
    }
  }
}

async function latestStatus(
  octokit: GitHubClient,
  where: Where,
  sha: string,
): Promise<{ state: CommitState; description: string } | undefined> {
  const { data } = await octokit.rest.repos.listCommitStatusesForRef({ owner: where.owner, repo: where.repo, ref: sha, per_page: 100 });
  const ours = data.find((s) => s.context === STATUS_CONTEXT);
  return ours ? { state: ours.state as CommitState, description: ours.description ?? "" } : undefined;
}

export interface RecordOptions extends Where {
  plan: EvaluationPlan;
  /** Where the evaluate jobs' artifacts were downloaded (never the workspace holding the actions). */
  artifactsDir: string;
  /** The evaluate job's result: success, failure, cancelled or skipped. */
  evaluation: string;
  /** A checkout of the default branch: the runs to compare with are its latest recorded ones. */
  baseline: { repository: string; commit: string };
  /** This workflow run and attempt (the approvals and evaluate jobs are read from it). */
  runId: number;
  attempt: number;
  previewUrl?: string;
  /** The client the results commit is made with (an App's, so the pull request's checks run again); default octokit. */
  pusher?: GitHubClient;
}

export interface RecordOutcome {
  runs: AcceptedRun[];
  dropped: DroppedEntry[];
  commit?: CommitOutcome;
  state: CommitState;
  comment?: StickyCommentOutcome;
  markdown: string;
}

/** After the evaluate jobs: commit what they produced that belongs to the plan, set the statuses, update the comment. */
export async function recordEvaluation(octokit: GitHubClient, options: RecordOptions): Promise<RecordOutcome> {
  const { owner, repo, plan, info = () => {} } = options;
  const authority = await runAuthority(octokit, { owner, repo, runId: options.runId, attempt: options.attempt }, plan);
  const reviews = authority.approvals;
  const { runs, dropped } = await acceptArtifacts(options.artifactsDir, plan, authority);
  for (const d of dropped) info(`ignored ${escapeControls(JSON.stringify(d.path))}: ${escapeControls(d.reason)}`);
  const ran = runs.filter((r) => r.result.status !== "superseded");
  const superseded = runs.find((r) => r.result.status === "superseded");

  let state: CommitState;
  let body: CommentState;
  let commit: CommitOutcome | undefined;
  let parkedOn: string | undefined;
  let description: string;
  if (ran.length > 0) {
    const files = ran.flatMap((r) => r.files);
    const names = ran.map((r) => `${r.result.experiment.name} ${r.result.status}`).join(", ");
    const message = `Record ${ran.length} Crucible result${ran.length === 1 ? "" : "s"} of ${plan.head.slice(0, 12)}: ${names}`;
    info(`committing ${files.length} files of ${ran.length} run(s) to ${plan.recordBranch}`);
    const pusher = options.pusher ?? octokit;
    // On the pull request's branch the results go on exactly the evaluated commit; a fork's results branch holds only results.
    commit = await commitFiles(pusher, {
      owner,
      repo,
      branch: plan.recordBranch,
      files,
      message,
      onRetry: info,
      ...(plan.fork ? {} : { parent: plan.head }),
    });
    if (commit.moved) {
      parkedOn = `results/pr-${plan.pullRequest}-${plan.head.slice(0, 12)}`;
      await pusher.rest.git.createRef({ owner, repo, ref: `refs/heads/${parkedOn}`, sha: commit.sha });
      info(`${plan.recordBranch} moved to ${commit.moved} after ${plan.head} was evaluated: its results went to ${parkedOn} instead`);
    } else info(`committed ${commit.sha} on ${commit.parentSha}${commit.attempts > 1 ? ` after ${commit.attempts} attempts` : ""}`);
    // The verdict is per planned experiment: each must have one run, and it must have succeeded.
    const succeeded = plan.experiments.filter((e) => ran.some((r) => r.planned.dir === e.dir && r.result.status === "succeeded")).length;
    state = succeeded === plan.experiments.length && options.evaluation === "success" ? "success" : "failure";
    description = `${succeeded} of ${plan.experiments.length} evaluation${plan.experiments.length === 1 ? "" : "s"} succeeded`;
    const rows: ResultRow[] = [];
    for (const r of ran) {
      const baseline = await latestRecordedRun(
        options.baseline.repository,
        options.baseline.commit,
        r.planned.dir,
        (b) => b.status === "succeeded",
      );
      rows.push({ result: r.result, ...(baseline ? { baseline } : {}) });
    }
    const missing = plan.experiments
      .filter((e) => !ran.some((r) => r.planned.dir === e.dir))
      .map((e) => ({ dir: e.dir, reason: `no result was recorded (the evaluate job ended ${options.evaluation})` }));
    if (parkedOn)
      missing.push({
        dir: parkedOn,
        reason:
          `the pull request moved to ${commit.moved} while these results were recorded, ` +
          "so they are on this branch, not on the pull request",
      });
    body = { kind: "results", plan, rows, dropped, recordedIn: commit.sha, previewUrl: options.previewUrl, notRun: missing };
  } else {
    const why = superseded
      ? { reason: "superseded" as const, detail: superseded.result.statusReason }
      : await whyNothingRan(octokit, options, reviews);
    state = why.reason === "rejected" ? "failure" : "error";
    description = why.detail;
    body = { kind: "not-run", plan, reason: why.reason, detail: why.detail, dropped };
  }

  const targetUrl = plan.workflowRunUrl;
  await setCommitStatus(octokit, { owner, repo, sha: plan.head, state, context: STATUS_CONTEXT, description, targetUrl });
  // A results commit on the pull request is its new head, whose parent is the evaluated commit: it carries the
  // same verdict, so a required check does not stall. Parked results carry none.
  if (commit && !parkedOn)
    await setCommitStatus(octokit, {
      owner,
      repo,
      sha: commit.sha,
      state,
      context: STATUS_CONTEXT,
      description: `${description} (results of ${plan.head.slice(0, 7)})`,
      targetUrl,
    });
  const markdown = renderEvaluationComment(body);
  const comment = await upsertStickyComment(octokit, {
    owner,
    repo,
    issueNumber: plan.pullRequest,
    marker: EVALUATION_MARKER,
    body: markdown,
    create: true,
  });
  info(`${comment.created ? "created" : "updated"} the evaluation comment ${comment.url}`);
  return { runs, dropped, commit: parkedOn ? undefined : commit, state, comment, markdown };
}

/** No result came back: say whether a reviewer rejected it, the pull request moved or closed, or it was cancelled. */
async function whyNothingRan(
  octokit: GitHubClient,
  options: RecordOptions,
  reviews: Approval[],
): Promise<{ reason: NotRunReason; detail: string }> {
  const { owner, repo, plan } = options;
  const rejected = reviews.filter((r) => r.state === "rejected");
  if (rejected.length > 0) {
    const said = rejected.map((r) => `${r.reviewer}${r.comment ? `: “${r.comment}”` : ""}`).join("; ");
    return { reason: "rejected", detail: `Rejected by ${said}. Nothing ran.` };
  }
  const head = await pullRequestHead(octokit, { owner, repo, number: plan.pullRequest });
  if (!head.open) return { reason: "closed", detail: "The pull request was closed before its evaluation ran; nothing ran." };
  if (head.sha !== plan.head)
    return {
      reason: "superseded",
      detail: `The pull request moved to ${head.sha} before the run started; nothing ran. The new commit is planned on its own.`,
    };
  if (options.evaluation === "cancelled")
    return { reason: "cancelled", detail: "The evaluation was cancelled before any result was written." };
  return { reason: "failed", detail: `The evaluate job ended ${options.evaluation} without a result; its log says why.` };
}

/** The preview build's data: every accepted run folder written under `experimentsDir` (the site's input). */
export async function writeAcceptedRuns(runs: AcceptedRun[], repositoryRoot: string): Promise<void> {
  for (const run of runs) for (const file of run.files) await writeInside(repositoryRoot, file.path, file.content);
}
