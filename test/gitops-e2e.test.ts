// The GitOps loop end to end, as GitHub behaves: the repository's own workflow files and bundled actions,
// run by the GitHub simulator (support/github-sim.ts) for the events GitHub would deliver, over a real
// bare git repository, with experiments run under runsc. Only GitHub's servers are replaced: its REST API
// by the double (every request and response checked against GitHub's OpenAPI description), its event
// delivery, environments and concurrency by the simulator. People act through the REST API with their
// own tokens, or by pushing to the repository.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { escapeMarkdown } from "../actions/lib/src/github/markdown.js";
import { artifactName } from "../actions/lib/src/gitops/plan.js";
import { GitHubSim, type SimOptions, type SimRun } from "./support/github-sim.js";
import { repoRoot } from "./support/repo.js";

const OWNER = "octo";
const REPO = "lab";
const MARKER = "<!-- crucible:evaluation -->";
const TIMEOUT = 900_000;
const RUNNERS = { "hosted-1": ["ubuntu-latest"], "gvisor-runner-1": ["self-hosted", "linux", "gvisor", "X64"] };
const PEOPLE: SimOptions["people"] = { researcher: "write", reviewer: "write", maintainer: "write", reader: "read", outsider: null };
const ENVIRONMENTS = { evaluation: { reviewers: ["reviewer", "researcher", "maintainer"], preventSelfReview: true, branches: ["main"] } };
const APP = { id: 4242, slug: "crucible-lab", permissions: { contents: "write", "pull-requests": "write" } as const };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;

/** The default branch: this repository's workflows, actions, schemas, site and two experiments, as committed. */
async function baseFiles(): Promise<Record<string, Buffer>> {
  const prefixes = [
    ".github/workflows/",
    "schemas/",
    "runner-setup/images/",
    "runner-setup/image-files/",
    // The site's fleet page draws these.
    "runner-setup/kubernetes/",
    "site/",
    "experiments/hello-sandbox/",
    "experiments/containment/log-injection/",
  ];
  const tracked = execFileSync("git", ["ls-files"], { cwd: repoRoot, encoding: "utf8" })
    .split("\n")
    .filter((f) => prefixes.some((p) => f.startsWith(p)));
  const files: Record<string, Buffer> = {};
  for (const f of [
    ...tracked,
    "README.md",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "runner-setup/policy.json",
    "runner-setup/policy.gpu.json",
    "runner-setup/monitoring-rules.json",
  ])
    files[f] = await readFile(path.join(repoRoot, f));
  // The actions as built from this checkout (their bundles may be newer than the last commit).
  for (const f of execFileSync("git", ["ls-files", "actions"], { cwd: repoRoot, encoding: "utf8" }).split("\n").filter(Boolean))
    files[f] = await readFile(path.join(repoRoot, f));
  for (const action of ["plan", "run", "record", "request", "command", "validate"]) {
    for (const f of ["action.yml", "dist/index.js"])
      files[`actions/${action}/${f}`] = await readFile(path.join(repoRoot, "actions", action, f));
  }
  return files;
}

/** node_modules keyed as the report job's cache step keys it: a cache an earlier run saved. */
async function npmCache(): Promise<Record<string, string>> {
  const lock = await readFile(path.join(repoRoot, "package-lock.json"));
  const key = createHash("sha256").update(createHash("sha256").update(lock).digest()).digest("hex");
  return { [`npm-${key}`]: path.join(repoRoot, "node_modules") };
}

let sim: GitHubSim | undefined;
afterEach(async () => {
  if (sim) expect(sim.fake.violations, "requests and responses off GitHub's OpenAPI description").toEqual([]);
  await sim?.close();
  sim = undefined;
});

/** The lines those scripts may hold: comments, fetching as data, the report's build, and failing (or a blank line). */
const ALLOWED_SCRIPT_LINES = [
  /#.*/,
  /auth=.*/,
  /echo "::add-mask::\$auth"/,
  /export GIT_CONFIG_COUNT=.*/,
  /git fetch .*/,
  /if \[ -n "\$HEAD_SHA" \]; then git fetch .*/,
  /\[\[ "\$PR_NUMBER" =~ .*/,
  /npm (ci|run site).*/,
  /echo "the pull request's experiments are invalid.*"/,
  /exit 1/,
];
const ALLOWED_SCRIPT_LINE = new RegExp(`^\\s*(${ALLOWED_SCRIPT_LINES.map((line) => line.source).join("|")}|)\\s*$`);

/** Scripts the evaluate and validate workflows run on the runners: only fetching as data (and the report's build). */
function checkScripts(workflow: string, _job: string, step: Json): void {
  if (!step.run || !/(evaluate|validate)\.yml$/.test(workflow)) return;
  for (const line of String(step.run).split("\n")) {
    expect(line, workflow).toMatch(ALLOWED_SCRIPT_LINE);
  }
}

async function startSim(options: { app?: boolean; onStep?: SimOptions["onStep"] } = {}): Promise<GitHubSim> {
  sim = await GitHubSim.start({
    owner: OWNER,
    repo: REPO,
    files: await baseFiles(),
    people: PEOPLE,
    environments: ENVIRONMENTS,
    runners: RUNNERS,
    caches: await npmCache(),
    ...(options.app ? { app: APP } : {}),
    onStep: (workflow, job, step, workspace) => {
      checkScripts(workflow, job, step);
      options.onStep?.(workflow, job, step, workspace);
    },
  });
  return sim;
}

const diagnose = (run: SimRun) =>
  `${run.workflow} #${run.id} (${run.eventName}) ${run.conclusion}${run.error ? `: ${String(run.error)}` : ""}\n` +
  (run.result?.steps ?? [])
    .map(
      (s) =>
        `  ${s.job}/${s.name}: ${s.outcome}\n${`${s.run?.stdout ?? ""}${s.run?.stderr ?? ""}`
          .split("\n")
          .slice(-25)
          .map((l) => `    ${l}`)
          .join("\n")}`,
    )
    .join("\n");

function evaluations(s: GitHubSim): SimRun[] {
  return s.runsOf("evaluate.yml");
}

function comment(s: GitHubSim, number: number): string {
  const ours = s.fake.comments.filter((c) => c.issueNumber === number && c.body.startsWith(MARKER));
  expect(ours, "one evaluation comment per pull request").toHaveLength(1);
  expect(ours[0]!.login.endsWith("[bot]")).toBe(true);
  return ours[0]!.body;
}

function statuses(s: GitHubSim, sha: string): string[] {
  return s.fake.statuses
    .filter((st) => st.sha === sha && st.context === "crucible/evaluation")
    .map((st) => `${st.state}: ${st.description}`);
}

function job(run: SimRun, name: string) {
  const found = run.result?.jobs[name];
  if (!found) throw new Error(`no job ${name}:\n${diagnose(run)}`);
  return found;
}

function step(run: SimRun, jobName: string, id: string) {
  return job(run, jobName).instances[0]!.steps.find((st) => st.id === id)!;
}

async function resultOf(run: SimRun): Promise<Json> {
  const instance = job(run, "evaluate").instances[0]!;
  const runStep = instance.steps.find((st) => st.id === "run")!;
  return JSON.parse(await readFile(path.join(instance.temp, "results", runStep.outputs["run-id"]!, "result.json"), "utf8"));
}

/** A researcher's pull request changing hello-sandbox (its steps parameter, so a metric moves against main). */
async function openHelloPullRequest(
  s: GitHubSim,
  options: { author?: string; steps?: number; fork?: string; extra?: Record<string, string> } = {},
): Promise<{ number: number; head: string }> {
  const yaml = (await readFile(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), "utf8"))
    .replace(/steps: \d+/, `steps: ${options.steps ?? 8}`)
    .replace("  - { metric: probes, better: neither }", "  - { metric: steps, better: neither }");
  const author = options.author ?? "researcher";
  const head = s.push(
    author,
    "more-steps",
    { "experiments/hello-sandbox/experiment.yaml": yaml, ...options.extra },
    "More steps",
    options.fork,
  );
  if (options.fork) {
    const pr = s.fake.openPullRequest({ title: "More steps", head: "more-steps", headRepo: options.fork, by: s.person(author) });
    return { number: pr.number, head };
  }
  const { data } = await s
    .as(author)
    .rest.pulls.create({ owner: OWNER, repo: REPO, title: "More steps", head: "more-steps", base: "main" });
  return { number: data.number, head };
}

describe("request form → pull request → validate → plan → approve → run → record → comment → report", () => {
  it(
    "with a GitHub App: its pull request starts the workflows, its results commit restarts the checks and is not planned again",
    async () => {
      const s = await startSim({ app: true });
      await s.as("researcher").rest.actions.createWorkflowDispatch({
        owner: OWNER,
        repo: REPO,
        workflow_id: "request.yml",
        ref: "main",
        inputs: { template: "containment-suite", name: "log-check", attack: "log-injection" },
      });
      await s.settle();
      const request = s.runsOf("request.yml")[0]!;
      expect(request.conclusion, diagnose(request)).toBe("success");
      const pr = s.fake.pull(1);
      const { sha: head } = { ...pr.head };
      const { sha: base } = { ...pr.base };
      expect(pr.author).toBe(`${APP.slug}[bot]`);
      expect(pr.body).toContain("<!-- crucible:requested-by researcher -->");
      expect(s.suppressed.filter((e) => e.event.kind !== "issue_comment")).toEqual([]); // only the bot's own comment

      // The App's pull request was delivered: validate.yml and evaluate.yml run for it.
      const validate = s.runsOf("validate.yml")[0]!;
      expect(validate.eventName).toBe("pull_request");
      expect(validate.conclusion, diagnose(validate)).toBe("success");
      const evaluation = evaluations(s)[0]!;
      expect(evaluation.state, diagnose(evaluation)).toBe("waiting");
      expect(job(evaluation, "plan").outputs.state).toBe("planned");
      expect(statuses(s, head)).toEqual([expect.stringMatching(/^pending: Awaiting approval: 1 experiment, about 2 runner-minutes$/)]);
      const planned = comment(s, 1);
      expect(planned).toContain("awaiting approval");
      expect(planned).toContain(`<code>${head}</code>`);
      expect(planned).toContain(`https://github.com/${OWNER}/${REPO}/compare/${base}...${head}`);
      expect(planned).toContain("log-check");

      await s.review("reviewer", evaluation, "approved", "ok to run");
      await s.settle();
      expect(evaluation.conclusion, diagnose(evaluation)).toBe("success");
      const result = await resultOf(evaluation);
      expect(result.schemaVersion).toBe(2);
      expect(result.provenance).toMatchObject({
        gitCommit: head,
        baseCommit: s.fake.head("main"),
        repository: `${OWNER}/${REPO}`,
        pullRequest: 1,
        runner: "gvisor-runner-1",
        workflowRunUrl: `https://github.com/${OWNER}/${REPO}/actions/runs/${evaluation.id}/attempts/1`,
        approvals: [
          { reviewer: "reviewer", state: "approved", comment: "ok to run", environments: ["evaluation"], at: expect.any(String) },
        ],
      });
      expect(result.provenance.jobUrl).toMatch(new RegExp(`^https://github.com/${OWNER}/${REPO}/actions/runs/${evaluation.id}/job/\\d+$`));

      // record: one commit pushed with the App's token on the pull request's branch; statuses on both heads.
      const recorded = step(evaluation, "record", "record").outputs["commit-sha"]!;
      expect(s.fake.commit(recorded).parents).toEqual([head]);
      expect(s.fake.pull(1).head.sha).toBe(recorded);
      expect(s.fake.commit(recorded).author.name).toBe(`${APP.slug}[bot]`);
      const committed = s.fake.added(recorded);
      expect(committed.length).toBeGreaterThan(2);
      expect(committed.every((f) => f.startsWith(`experiments/containment/log-check/results/${result.runId}/`))).toBe(true);
      const verdict = statuses(s, head).at(-1)!;
      expect(verdict).toMatch(/^(success|failure): /);
      expect(statuses(s, recorded)[0]).toBe(`${verdict} (results of ${head.slice(0, 7)})`);

      // The App's push was delivered too: validate ran again, and evaluate recognised a results-only push.
      await s.settle();
      expect(s.runsOf("validate.yml")).toHaveLength(2);
      const followUp = evaluations(s)[1]!;
      expect(followUp.eventName).toBe("pull_request_target");
      expect(job(followUp, "plan").outputs.state, diagnose(followUp)).toBe("results-only");
      expect(job(followUp, "evaluate").result).toBe("skipped");
      expect(statuses(s, recorded).at(-1)).toBe(verdict);

      // The comment: results of the approved commit, approved by the reviewer, links to the live log and the report.
      const body = comment(s, 1);
      expect(body).toContain(`Evaluated <code>${head}</code>`);
      expect(body).toMatch(/approved by reviewer \(/);
      expect(body).toContain(`href="${result.provenance.jobUrl}">job log</a>`);
      expect(body).toContain(`href="https://${OWNER}.github.io/${REPO}/runs/log-check/${result.runId}/">report</a>`);
      expect(body).toContain(`Recorded in <a href="https://github.com/${OWNER}/${REPO}/commit/${recorded}">${recorded}</a>`);
      expect(body).toContain("crucible-report");

      // The report preview shows the run with the evaluated commit and its approver.
      const report = job(evaluation, "report");
      expect(report.result, diagnose(evaluation)).toBe("success");
      const page = await readFile(
        path.join(evaluation.result!.artifactsDir, "crucible-report/runs/log-check", result.runId, "index.html"),
        "utf8",
      );
      expect(page).toContain(head);
      expect(page).toContain("reviewer");
    },
    TIMEOUT,
  );

  it(
    "without an App: GitHub starts nothing for the form's pull request, so validate and evaluate are dispatched for it",
    async () => {
      const s = await startSim();
      await s.as("researcher").rest.actions.createWorkflowDispatch({
        owner: OWNER,
        repo: REPO,
        workflow_id: "request.yml",
        ref: "main",
        inputs: { template: "containment-suite", name: "log-check", attack: "log-injection" },
      });
      await s.settle();
      expect(s.runsOf("request.yml")[0]!.conclusion, diagnose(s.runsOf("request.yml")[0]!)).toBe("success");
      const pr = s.fake.pull(1);
      const head = pr.head.sha;
      expect(pr.author).toBe("github-actions[bot]");
      // What GitHub does with a pull request opened by GITHUB_TOKEN: no pull_request, no pull_request_target.
      expect(s.suppressed.map((e) => e.event.kind)).toContain("pull_request");
      expect(s.runs.filter((r) => r.eventName.startsWith("pull_request"))).toEqual([]);
      const validate = s.runsOf("validate.yml")[0]!;
      expect([validate.eventName, validate.conclusion], diagnose(validate)).toEqual(["workflow_dispatch", "success"]);
      expect(job(validate, "validate-dispatched").result).toBe("success");
      const evaluation = evaluations(s)[0]!;
      expect([evaluation.eventName, evaluation.state]).toEqual(["workflow_dispatch", "waiting"]);
      expect(JSON.parse(job(evaluation, "plan").outputs.plan!)).toMatchObject({
        head,
        requestedBy: "researcher",
        author: "github-actions[bot]",
      });

      await s.review("reviewer", evaluation, "approved");
      await s.settle();
      expect(evaluation.conclusion, diagnose(evaluation)).toBe("success");
      const result = await resultOf(evaluation);
      expect(result.provenance).toMatchObject({ gitCommit: head, approvals: [{ reviewer: "reviewer", state: "approved" }] });
      // The results commit was made with GITHUB_TOKEN: GitHub started nothing for it, and it carries the verdict itself.
      const recorded = step(evaluation, "record", "record").outputs["commit-sha"]!;
      expect(s.fake.pull(1).head.sha).toBe(recorded);
      expect(s.suppressed.some((e) => e.event.kind === "push" && e.event.after === recorded)).toBe(true);
      expect(evaluations(s)).toHaveLength(1);
      expect(statuses(s, recorded).at(-1)).toMatch(/^(success|failure): .*\(results of /);
      expect(comment(s, 1)).toContain(`Evaluated <code>${head}</code>`);
    },
    TIMEOUT,
  );
});

describe("a researcher's pull request", () => {
  it(
    "records the approved head with the change of each headline metric against main; a push between approval and run supersedes it",
    async () => {
      let pushAfterApproval: (() => void) | undefined;
      const s = await startSim({
        onStep: (_workflow, job, st) => {
          if (job === "evaluate" && st.id === "run" && pushAfterApproval) {
            const push = pushAfterApproval;
            pushAfterApproval = undefined;
            push();
          }
        },
      });
      const { number, head } = await openHelloPullRequest(s);
      await s.settle();
      const first = evaluations(s)[0]!;
      expect(first.state, diagnose(first)).toBe("waiting");
      await s.review("reviewer", first, "approved");
      await s.settle();
      expect(first.conclusion, diagnose(first)).toBe("success");
      const result = await resultOf(first);
      expect(result).toMatchObject({ status: "succeeded", metrics: { steps: 8 }, provenance: { gitCommit: head } });
      const body = comment(s, number);
      // main's latest hello-sandbox run had steps = 5: the change is shown with its direction.
      expect(body).toContain("steps = 8 (▲ +3 vs 5)");
      expect(body).toContain("escapes&#95;blocked = 5 (＝ 5)");
      // The results commit was pushed with GITHUB_TOKEN: GitHub started nothing for it, and the status is on it already.
      const recorded = s.fake.pull(number).head.sha;
      expect(statuses(s, recorded)).toEqual([expect.stringMatching(/^success: 1 of 1 evaluation succeeded \(results of /)]);
      expect(evaluations(s)).toHaveLength(1);

      // Now a push lands after the reviewer approved the next evaluation, before its sandbox starts.
      s.push("researcher", "more-steps", {
        "experiments/hello-sandbox/experiment.yaml": (
          await readFile(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), "utf8")
        ).replace(/steps: \d+/, "steps: 9"),
      });
      await s.settle();
      const second = evaluations(s)[1]!;
      const approvedHead = JSON.parse(job(second, "plan").outputs.plan!).head as string;
      let moved = "";
      s.holdEvents = true; // GitHub delivers the next push's events a little later: the run starts first
      pushAfterApproval = () => (moved = s.push("researcher", "more-steps", { "notes.md": "late\n" }));
      await s.review("reviewer", second, "approved");
      await s.settle();
      expect(second.conclusion, diagnose(second)).toBe("success");
      const superseded = await resultOf(second);
      expect(superseded).toMatchObject({ status: "superseded", provenance: { gitCommit: approvedHead } });
      expect(superseded.statusReason).toContain(`moved to ${moved}`);
      expect(statuses(s, approvedHead).at(-1)).toMatch(/^error: The pull request moved to|^error: the pull request moved to/);
      expect(comment(s, number)).toContain("superseded");
      // Nothing of a superseded run is committed.
      expect([...s.fake.git.paths(s.fake.pull(number).head.sha)].some((f) => f.includes(superseded.runId))).toBe(false);

      // The late push's events arrive: the new head is planned and awaits its own approval.
      s.release();
      await s.settle();
      const third = evaluations(s)[2]!;
      expect(JSON.parse(job(third, "plan").outputs.plan!).head).toBe(moved);
      expect(third.state).toBe("waiting");
      expect(comment(s, number)).toContain(`<code>${moved}</code>`);
      expect(statuses(s, moved)).toEqual([expect.stringMatching(/^pending: Awaiting approval/)]);
    },
    TIMEOUT,
  );

  it(
    "a rejection is reported on the pull request; its author may not approve it",
    async () => {
      const s = await startSim();
      const { number, head } = await openHelloPullRequest(s);
      await s.settle();
      const run = evaluations(s)[0]!;
      await expect(s.review("researcher", run, "approved")).rejects.toMatchObject({ status: 422 });
      await s.review("reviewer", run, "rejected", "uses too much memory for a hello");
      await s.settle();
      expect(job(run, "evaluate").result).toBe("failure");
      expect(job(run, "record").result, diagnose(run)).toBe("success");
      expect(statuses(s, head).at(-1)).toBe("failure: Rejected by reviewer: “uses too much memory for a hello”. Nothing ran.");
      const body = comment(s, number);
      expect(body).toContain("rejected");
      expect(body).toContain("uses too much memory for a hello");
      expect(s.fake.pull(number).head.sha).toBe(head); // nothing committed
    },
    TIMEOUT,
  );

  it(
    "closing it while the sandbox runs cancels the run, and its partial log is recorded",
    async () => {
      const slow = ["import time", "for i in range(120):", "    print('tick', i, flush=True)", "    time.sleep(0.5)", ""].join("\n");
      const s = await startSim({
        onStep: (_workflow, job, st) => {
          if (job === "evaluate" && st.id === "run")
            setTimeout(
              () => void s.as("researcher").rest.pulls.update({ owner: OWNER, repo: REPO, pull_number: 1, state: "closed" }),
              6000,
            );
        },
      });
      const { number, head } = await openHelloPullRequest(s, { extra: { "experiments/hello-sandbox/main.py": slow } });
      await s.settle();
      await s.review("reviewer", evaluations(s)[0]!, "approved");
      await s.settle();
      const [running, closed] = evaluations(s);
      expect(running!.conclusion, diagnose(running!)).toBe("cancelled");
      const result = await resultOf(running!);
      expect(result.status).toBe("cancelled");
      expect(result.log.lines).toBeGreaterThan(0);
      // The cancelled run's record job still ran (always()) and committed the partial result.
      const recorded = step(running!, "record", "record").outputs["commit-sha"]!;
      expect(s.fake.files(recorded).get(`experiments/hello-sandbox/results/${result.runId}/log.txt`)).toContain("tick 0");
      expect(comment(s, number)).toContain("cancelled");
      expect(statuses(s, head).at(-1)).toMatch(/^failure: 0 of 1 evaluation succeeded/);
      // The closed event's run planned nothing and left the verdict alone.
      expect(job(closed!, "plan").outputs.state).toBe("closed");
      expect(job(closed!, "evaluate").result).toBe("skipped");
    },
    TIMEOUT,
  );

  it(
    "/crucible rerun from a writer goes through approval again; a reader is refused politely",
    async () => {
      const s = await startSim();
      const { number } = await openHelloPullRequest(s);
      await s.settle();
      await s.review("reviewer", evaluations(s)[0]!, "approved");
      await s.settle();

      await s
        .as("reader")
        .rest.issues.createComment({ owner: OWNER, repo: REPO, issue_number: number, body: "/crucible rerun experiments/hello-sandbox" });
      await s.settle();
      expect(s.runsOf("commands.yml")[0]!.conclusion, diagnose(s.runsOf("commands.yml")[0]!)).toBe("success");
      const refusal = s.fake.comments.filter(
        (c) => c.issueNumber === number && c.login === "github-actions[bot]" && !c.body.startsWith(MARKER),
      );
      expect(refusal.map((c) => c.body)).toEqual([
        expect.stringContaining("only people with write access to this repository can use them (your access: read)"),
      ]);
      expect(evaluations(s)).toHaveLength(1);

      const { data: asked } = await s
        .as("maintainer")
        .rest.issues.createComment({ owner: OWNER, repo: REPO, issue_number: number, body: "/crucible rerun hello-sandbox" });
      await s.settle();
      expect(s.fake.comments.find((c) => c.id === asked.id)!.reactions).toEqual([{ content: "rocket", login: "github-actions[bot]" }]);
      const rerun = evaluations(s)[1]!;
      expect([rerun.eventName, rerun.state]).toEqual(["workflow_dispatch", "waiting"]);
      const plan = JSON.parse(job(rerun, "plan").outputs.plan!);
      expect(plan).toMatchObject({
        head: s.fake.pull(number).head.sha,
        requestedBy: "maintainer",
        trigger: "rerun of experiments/hello-sandbox requested by maintainer",
      });
      expect(comment(s, number)).toContain("awaiting approval");
      await s.review("reviewer", rerun, "approved");
      await s.settle();
      expect(rerun.conclusion, diagnose(rerun)).toBe("success");
      expect(await resultOf(rerun)).toMatchObject({ status: "succeeded", provenance: { gitCommit: plan.head } });
      expect(comment(s, number)).toContain("steps = 8 (▲ +3 vs 5)");
    },
    TIMEOUT,
  );
});

describe("untrusted inputs", () => {
  it(
    "a pull request from a fork: read-only validate, evaluation after approval, results on results/pr-<n> and a follow-up pull request",
    async () => {
      const s = await startSim();
      const { number, head } = await openHelloPullRequest(s, { author: "outsider", fork: "outsider/lab" });
      await s.settle();
      const validate = s.runsOf("validate.yml")[0]!;
      expect(validate.conclusion, diagnose(validate)).toBe("success");
      const run = evaluations(s)[0]!;
      expect(JSON.parse(job(run, "plan").outputs.plan!)).toMatchObject({ fork: true, recordBranch: `results/pr-${number}`, head });
      await s.review("reviewer", run, "approved");
      await s.settle();
      expect(run.conclusion, diagnose(run)).toBe("success");
      const recorded = step(run, "record", "record").outputs["commit-sha"]!;
      expect(s.fake.head(`results/pr-${number}`)).toBe(recorded);
      expect(s.fake.pull(number).head.sha).toBe(head); // the fork's branch is untouched
      const followUp = s.fake.pulls.find((p) => p.head.ref === `results/pr-${number}`)!;
      expect(followUp).toMatchObject({ base: { ref: "main" }, author: "github-actions[bot]" });
      expect(statuses(s, head).at(-1)).toMatch(/^success: /);
    },
    TIMEOUT,
  );

  it(
    "a compromised runner's extra files, forged results and foreign artifacts are ignored and listed; only the planned result is committed",
    async () => {
      // Before the upload step, as a runner host under an attacker's control would: files added to the
      // result folder, and a forged run uploaded as an artifact of its own, named like a planned one.
      const s = await startSim({
        onStep: (_workflow, job, st, workspace) => {
          if (job !== "evaluate" || !String(st.name ?? "").startsWith("Upload the result folder")) return;
          const temp = path.join(path.dirname(workspace), "temp");
          const results = path.join(temp, "results");
          const [runId] = readdirSync(results);
          const real = JSON.parse(readFileSync(path.join(results, runId!, "result.json"), "utf8"));
          const forgedId = "20300101T000000Z-0ff1ce";
          const forged = path.join(path.dirname(path.dirname(temp)), "artifacts", "result-hello-sandbox-00000000", forgedId);
          mkdirSync(forged, { recursive: true });
          writeFileSync(
            path.join(forged, "result.json"),
            JSON.stringify({
              ...real,
              runId: forgedId,
              provenance: { ...real.provenance, approvals: [{ reviewer: "trusted-maintainer", state: "approved", at: real.startedAt }] },
            }),
          );
          mkdirSync(path.join(results, "actions/record/dist"), { recursive: true });
          writeFileSync(path.join(results, "actions/record/dist/index.js"), "process.exit(0)\n");
          writeFileSync(path.join(results, runId!, "extra.sh"), "rm -rf /\n");
          mkdirSync(path.join(results, runId!, "output"), { recursive: true });
          writeFileSync(path.join(results, runId!, "output", "bad\nname.txt"), "x\n");
        },
      });
      const { number } = await openHelloPullRequest(s);
      await s.settle();
      await s.review("reviewer", evaluations(s)[0]!, "approved");
      await s.settle();
      const run = evaluations(s)[0]!;
      expect(run.conclusion, diagnose(run)).toBe("success");
      const result = await resultOf(run);
      const recorded = step(run, "record", "record").outputs["commit-sha"]!;
      const added = s.fake.added(recorded);
      expect(added.length).toBeGreaterThan(2);
      expect(added.every((f) => f.startsWith(`experiments/hello-sandbox/results/${result.runId}/`))).toBe(true);
      expect(added.some((f) => f.endsWith("extra.sh") || f.includes("bad"))).toBe(false);
      const body = comment(s, number);
      expect(body).toContain("Ignored from the evaluate jobs");
      expect(body).toContain("result-hello-sandbox-00000000");
      expect(body).toContain("not the results artifact of a planned experiment");
      expect(body).not.toContain("trusted-maintainer");
      expect(body).toContain("extra.sh");
      // The record job's actions are the base branch's: the artifacts went to RUNNER_TEMP.
      const recordJob = job(run, "record").instances[0]!;
      expect(await readFile(path.join(recordJob.workspace, "actions/record/dist/index.js"), "utf8")).not.toBe("process.exit(0)\n");
    },
    TIMEOUT,
  );
});

describe("an experiment that brings its own image", () => {
  async function openImagePullRequest(s: GitHubSim, image: string): Promise<{ number: number; head: string }> {
    const yaml = (await readFile(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), "utf8")).replace(
      /^image: base$/m,
      `image: ${image}`,
    );
    const head = s.push("researcher", "own-image", { "experiments/hello-sandbox/experiment.yaml": yaml }, "Own image");
    const { data } = await s
      .as("researcher")
      .rest.pulls.create({ owner: OWNER, repo: REPO, title: "Own image", head: "own-image", base: "main" });
    return { number: data.number, head };
  }

  it(
    "a tag without a digest is a validation error at its line, with the fix; nothing awaits approval",
    async () => {
      const s = await startSim();
      const { number, head } = await openImagePullRequest(s, "registry.example/org/eval-env:1.2");
      await s.settle();
      const run = evaluations(s)[0]!;
      expect(job(run, "plan").outputs.state, diagnose(run)).toBe("invalid");
      expect(job(run, "evaluate").result).toBe("skipped");
      const body = comment(s, number);
      expect(body).toContain(`<code>${escapeMarkdown("experiments/hello-sandbox/experiment.yaml:8:8")}</code>`);
      expect(body).toContain("is a tag without a digest");
      expect(body).toContain("pin it by digest");
      expect(statuses(s, head).at(-1)).toMatch(/^failure: /);
    },
    TIMEOUT,
  );

  it(
    "a registry the runner's policy does not allow is refused on the sandbox host before any pull, and recorded",
    async () => {
      const s = await startSim();
      const pinned = `127.0.0.1:5999/org/eval-env@sha256:${"5".repeat(64)}`;
      const { number, head } = await openImagePullRequest(s, pinned);
      await s.settle();
      const run = evaluations(s)[0]!;
      expect(run.state, diagnose(run)).toBe("waiting");
      expect(comment(s, number)).toContain("127.0.0.1&#58;&#8203;5999/org/eval-env");
      await s.review("reviewer", run, "approved");
      await s.settle();
      const result = await resultOf(run);
      expect(result).toMatchObject({ status: "rejected", provenance: { gitCommit: head } });
      expect(result.statusReason).toBe(
        "the runner's policy refuses this experiment: " +
          "image registry 127.0.0.1:5999 is not allowed (images.allowedRegistries: none); nothing was pulled",
      );
      expect(comment(s, number)).toContain("⛔ rejected");
    },
    TIMEOUT,
  );
});

describe("an experiment with its own Dockerfile", () => {
  const DOCKERFILE = "ARG CRUCIBLE_BASE\nFROM ${CRUCIBLE_BASE}\nENV CRUCIBLE_GREETING_SOURCE=dockerfile\n";

  async function openDockerfilePullRequest(s: GitHubSim): Promise<{ number: number; head: string }> {
    const yaml = (await readFile(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), "utf8")).replace(
      /^image: base$/m,
      "image: { build: { dockerfile: Dockerfile, context: . } }",
    );
    const head = s.push(
      "researcher",
      "own-dockerfile",
      { "experiments/hello-sandbox/experiment.yaml": yaml, "experiments/hello-sandbox/Dockerfile": DOCKERFILE },
      "Own Dockerfile",
    );
    const { data } = await s
      .as("researcher")
      .rest.pulls.create({ owner: OWNER, repo: REPO, title: "Own Dockerfile", head: "own-dockerfile", base: "main" });
    return { number: data.number, head };
  }

  it(
    "is built by the hosted build job; the reviewer sees its digest; the sandbox host runs exactly that image under runsc",
    async () => {
      const s = await startSim();
      const { number, head } = await openDockerfilePullRequest(s);
      await s.settle();
      const run = evaluations(s)[0]!;
      expect(run.state, diagnose(run)).toBe("waiting");
      const build = job(run, "build");
      expect(build.result, diagnose(run)).toBe("success");
      expect(build.instances[0]!.runner).toBe("hosted-1");
      const planned = comment(s, number);
      const digest = /digest <code>(sha256:[0-9a-f]{64})<\/code>/.exec(planned)?.[1];
      expect(digest, planned).toBeDefined();
      expect(planned).toMatch(/Dockerfile <code>sha256:[0-9a-f]{64}<\/code>/);
      expect(planned).toContain("the sandbox host runs it only if its digest is the one shown here");
      await s.review("reviewer", run, "approved");
      await s.settle();
      expect(run.conclusion, diagnose(run)).toBe("success");
      const result = await resultOf(run);
      expect(result).toMatchObject({
        status: "succeeded",
        runtime: { name: "runsc" },
        image: { source: "build", digest, id: digest },
        provenance: { gitCommit: head },
      });
      expect(comment(s, number)).toContain(`digest <code>${digest}</code>`);
    },
    TIMEOUT,
  );

  it(
    "an image archive that does not hold the approved digest is refused on the sandbox host, and recorded",
    async () => {
      const s = await startSim({
        onStep: (_workflow, jobName, st, workspace) => {
          // The evaluate job's copy of the build's record names another digest than its archive holds.
          if (jobName !== "evaluate" || st.id !== "run") return;
          const record = path.join(path.dirname(workspace), "temp", "image", "image.json");
          const json = JSON.parse(readFileSync(record, "utf8"));
          writeFileSync(record, JSON.stringify({ ...json, digest: `sha256:${"7".repeat(64)}` }));
        },
      });
      const { number } = await openDockerfilePullRequest(s);
      await s.settle();
      const run = evaluations(s)[0]!;
      await s.review("reviewer", run, "approved");
      await s.settle();
      const result = await resultOf(run);
      expect(result.status, diagnose(run)).toBe("rejected");
      expect(result.statusReason).toMatch(
        new RegExp(
          `^the image archive holds sha256:[0-9a-f]{64}, not the approved digest sha256:${"7".repeat(64)}: refused, nothing was loaded$`,
        ),
      );
      expect(comment(s, number)).toContain("⛔ rejected");
    },
    TIMEOUT,
  );

  it(
    "an escaped build job's forged results artifact is not recorded: the evaluate job runs nothing and names it, record lists it",
    async () => {
      // PR-controlled RUN steps that got out of their build container on the hosted VM: with the build job's
      // runtime token they upload hello-sandbox's results artifact, complete with a succeeded result.json.
      const artifact = artifactName("experiments/hello-sandbox");
      const forgedId = "20300101T000000Z-0ff1ce";
      const template = JSON.parse(
        readFileSync(path.join(repoRoot, "experiments/hello-sandbox/results/20261122T033021Z-68caf8/result.json"), "utf8"),
      );
      const s = await startSim({
        onStep: (_workflow, jobName, st) => {
          if (jobName !== "build" || !String(st.name ?? "").startsWith("Build ")) return;
          const run = evaluations(sim!).at(-1)!;
          const { number, head } = { number: run.event.pull_request.number, head: run.event.pull_request.head.sha };
          const forged = {
            ...template,
            runId: forgedId,
            status: "succeeded",
            metrics: { forged: 1 },
            provenance: { ...template.provenance, gitCommit: head, pullRequest: number },
          };
          sim!.uploadFromJob(run, "build (experiments/hello-sandbox)", artifact, { [`${forgedId}/result.json`]: JSON.stringify(forged) });
        },
      });
      const { number, head } = await openDockerfilePullRequest(s);
      await s.settle();
      const run = evaluations(s)[0]!;
      expect(job(run, "build").result, diagnose(run)).toBe("success");
      expect(s.fake.runs.get(run.id)!.artifacts!.map((a) => a.name)).toContain(artifact);
      await s.review("reviewer", run, "approved");
      await s.settle();

      // The evaluate job saw the name taken before running anything, and failed saying which artifact.
      const evaluate = job(run, "evaluate").instances[0]!;
      expect(evaluate.result, diagnose(run)).toBe("failure");
      const preflight = evaluate.steps.find((st) => st.name.startsWith("Check that no other job"))!;
      expect(preflight.outcome).toBe("failure");
      expect(preflight.run!.stdout).toContain(`this workflow run already has an artifact named ${artifact}`);
      expect(evaluate.steps.find((st) => st.id === "run")!.outcome).toBe("skipped");

      // Record: nothing committed, the forged artifact listed with GitHub's reason, the experiment not recorded.
      expect(job(run, "record").result, diagnose(run)).toBe("success");
      expect(step(run, "record", "record").outputs["commit-sha"] ?? "").toBe("");
      expect(s.fake.head("own-dockerfile")).toBe(head);
      expect(step(run, "record", "record").run!.stdout).toMatch(
        new RegExp(`ignored "${artifact}": GitHub created it at \\S+, outside its evaluate job`),
      );
      const body = comment(s, number);
      expect(body).toContain(artifact);
      expect(body).toContain("outside its evaluate job");
      expect(body).not.toContain(forgedId);
      expect(statuses(s, head).at(-1)).toMatch(/^error: The evaluate job ended failure without a result/);
      expect(job(run, "report").result).toBe("skipped");
    },
    TIMEOUT,
  );
});
