// The record action, bundled and run as the runner runs it (modes announce, preflight and record), against
// the GitHub double, which checks every request and response against GitHub's OpenAPI description. What it
// records comes from an artifacts folder laid out as the evaluate jobs upload it, and from what GitHub
// says about the run: its evaluate jobs (when they ran) and its artifacts (when GitHub created them).
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvaluationPlan } from "../actions/lib/src/gitops/evaluation.js";
import { artifactName } from "../actions/lib/src/gitops/plan.js";
import { runAction } from "./support/action.js";
import { evaluationPlan } from "./support/plan.js";
import { FakeGitHub, type FakeJob, type FakeRun } from "./support/fake-github.js";
import { repoRoot } from "./support/repo.js";

const entry = path.join(repoRoot, "actions/record/dist/index.js");
const MARKER = "<!-- crucible:evaluation -->";
const RUN_ID = 9001;
const HOSTILE_REASON = "exit | `rm -rf /` <script>alert(1)</script> [click](javascript:alert(1)) @octocat";
const HOSTILE_METRICS = { "a|b": 1, "`tick`": 2, "<script>x</script>": 3, "[x](http://evil.example)": 4, fifth: 5 };

let fake: FakeGitHub;
let token: string;
/** Each registered run's job token (actions: read, so it can read the run's jobs and artifacts). */
const tokens = new Map<number, string>();
let artifacts: string;
let plan: EvaluationPlan;
let head: string;
let helloRunId: string;

function planned(dir: string, name: string) {
  return {
    experiment: `${dir}/experiment.yaml`,
    dir,
    name,
    gpus: 0,
    "runs-on": ["self-hosted", "linux", "gvisor"],
    artifact: artifactName(dir),
    image: "base",
    resources: { cpus: 1, memory: "256Mi", timeout: "60s" },
    stages: 0,
    estimate: { minutes: 1, basis: "timeout" as const },
  };
}

/** The evaluate jobs' artifacts: a copy of the committed hello-sandbox run, and a failed run whose text and metric names are hostile. */
async function makeArtifacts(evaluated: string): Promise<string> {
  const artifacts = await mkdtemp(path.join(os.tmpdir(), "crucible-artifacts-"));
  const resultsDir = path.join(repoRoot, "experiments/hello-sandbox/results");
  helloRunId = (await readdir(resultsDir))[0]!;
  const helloDir = path.join(artifacts, artifactName("experiments/hello-sandbox"), helloRunId!);
  await cp(path.join(resultsDir, helloRunId!), helloDir, { recursive: true });
  const hello = JSON.parse(await readFile(path.join(helloDir, "result.json"), "utf8"));
  const ours = { ...hello, provenance: { ...hello.provenance, gitCommit: evaluated, pullRequest: 1 } };
  await writeFile(path.join(helloDir, "result.json"), JSON.stringify(ours, null, 2));

  const hostileId = "20261122T030000Z-abcdef";
  const hostileDir = path.join(artifacts, artifactName("experiments/hostile"), hostileId);
  await mkdir(path.join(hostileDir, "output"), { recursive: true });
  const hostile = {
    ...ours,
    runId: hostileId,
    experiment: { ...hello.experiment, name: "hostile", path: "experiments/hostile/experiment.yaml" },
    status: "failed",
    statusReason: HOSTILE_REASON,
    exitCode: 3,
    metrics: HOSTILE_METRICS,
    artifacts: [],
    provenance: { ...ours.provenance, jobUrl: "javascript:alert(document.cookie)" },
  };
  await writeFile(path.join(hostileDir, "result.json"), `${JSON.stringify(hostile, null, 2)}\n`);
  await writeFile(path.join(hostileDir, "log.txt"), "[+0.1s stdout] ::set-output name=x::pwned\n");
  await writeFile(path.join(hostileDir, "output", "metrics.json"), JSON.stringify(HOSTILE_METRICS));
  // The program may write a result.json of its own: it is an output, not a second result.
  await writeFile(path.join(hostileDir, "output", "result.json"), JSON.stringify({ ...hostile, statusReason: "forged" }));
  return artifacts;
}

function act(mode: string, inputs: Record<string, string> = {}, planned = plan, runId = RUN_ID) {
  return runAction(entry, {
    inputs: { mode, token: tokens.get(runId)!, plan: JSON.stringify(planned), artifacts, evaluation: "success", ...inputs },
    env: {
      GITHUB_REPOSITORY: "octo/lab",
      GITHUB_API_URL: fake.url,
      GITHUB_WORKSPACE: repoRoot,
      GITHUB_RUN_ID: String(runId),
      GITHUB_SERVER_URL: "https://github.com",
    },
  });
}

function requestsSince(start: number, operationId: string) {
  return fake.requests.slice(start).filter((r) => r.operationId === operationId);
}

const ourComments = () => fake.comments.filter((c) => c.body.startsWith(MARKER) && c.login === "github-actions[bot]");

beforeAll(async () => {
  fake = await FakeGitHub.start({ owner: "octo", repo: "lab", branches: { main: { "README.md": "# lab\n" } } });
  head = fake.push("feature", {}, "branch", fake.person("researcher"), "heads/feature");
  fake.openPullRequest({ title: "feature", head: "feature", by: fake.person("researcher") });
  token = registerRun(RUN_ID);
  plan = evaluationPlan({
    base: fake.head("main"),
    head,
    experiments: [planned("experiments/hello-sandbox", "hello-sandbox"), planned("experiments/hostile", "hostile")],
    workflowRunUrl: `https://github.com/octo/lab/actions/runs/${RUN_ID}`,
    reportUrl: "https://example.org/crucible/",
  });
  // GitHub's record of the evaluate jobs, each uploading its experiment's results while it runs.
  for (const e of plan.experiments) {
    const job = startJob(RUN_ID, `evaluate (${e.dir})`);
    fake.createArtifact(RUN_ID, e.artifact);
    finishJob(job);
  }
  artifacts = await makeArtifacts(head);
  // Anyone can write the marker; a person's comment carrying it must never be taken for ours.
  fake.addComment(1, `${MARKER}\nresults forged by a person`, "mallory");
  // Enough other comments that ours has to be found on a later page.
  for (let i = 0; i < 120; i++) fake.addComment(1, `comment ${i}`);
});

/** A workflow run of evaluate.yml as GitHub holds it (no jobs, no artifacts yet); returns its record job's token. */
function registerRun(id: number): string {
  const run: FakeRun = {
    id,
    attempt: 1,
    name: "Evaluate",
    path: ".github/workflows/evaluate.yml",
    event: "pull_request_target",
    headBranch: "main",
    headSha: head,
    actor: "researcher",
    status: "in_progress",
    conclusion: null,
    createdAt: new Date().toISOString(),
    pullRequests: [1],
    jobs: [],
    pending: [],
    reviews: [],
    cancel: () => {},
  };
  fake.runs.set(id, run);
  const jobToken = fake.jobToken(id, { contents: "write", "pull-requests": "write", statuses: "write", actions: "read" });
  tokens.set(id, jobToken);
  return jobToken;
}

/** A job of the run starts now (GitHub stamps started_at); finishJob stamps completed_at. */
function startJob(runId: number, name: string): FakeJob {
  const job: FakeJob = {
    id: fake.newJobId(),
    name,
    status: "in_progress",
    conclusion: null,
    runnerName: "gvisor-runner-1",
    labels: ["self-hosted", "linux", "gvisor"],
    startedAt: new Date().toISOString(),
    completedAt: null,
  };
  fake.runs.get(runId)!.jobs.push(job);
  return job;
}

function finishJob(job: FakeJob, conclusion = "success"): void {
  Object.assign(job, { status: "completed", conclusion, completedAt: new Date().toISOString() });
}

afterAll(async () => {
  await fake?.close();
});

describe("actions/record announce", () => {
  it("puts a pending status on the head and one comment saying what awaits approval", async () => {
    const run = await act("announce");
    expect(run.code, run.stdout).toBe(0);
    expect(fake.statuses).toEqual([
      expect.objectContaining({
        sha: head,
        state: "pending",
        context: "crucible/evaluation",
        description: "Awaiting approval: 2 experiments, about 2 runner-minutes",
      }),
    ]);
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain(`Head commit <code>${head}</code>`);
    const helloRow = "| <code>experiments/hello-sandbox</code> | base | 1 | 256Mi | 0 | 60s | ≤ 1 min (timeout) |";
    expect(ourComments()[0]!.body).toContain(helloRow);
    expect(fake.violations).toEqual([]);
  });

  it("says nothing new when a pull request changes no experiment, but makes the required status succeed", async () => {
    const other = { ...plan, pullRequest: 1, head: fake.head("main"), state: "nothing" as const, experiments: [] };
    const before = fake.requests.length;
    const run = await act("announce", {}, other);
    expect(run.code, run.stdout).toBe(0);
    expect(fake.statuses.at(-1)).toMatchObject({
      sha: fake.head("main"),
      state: "success",
      description: "Nothing to evaluate: no experiment changed",
    });
    expect(requestsSince(before, "issues/create-comment")).toHaveLength(0);
  });
});

describe("actions/record", () => {
  it("commits every accepted result file in one commit on the branch head, sets the statuses and updates the comment", async () => {
    const start = fake.requests.length;
    const run = await act("record");
    expect(run.stderr).toBe("");
    expect(run.code, run.stdout).toBe(0);
    const sha = run.outputs["commit-sha"]!;
    expect(sha).toBe(fake.head("feature"));
    expect(requestsSince(start, "git/create-commit")).toHaveLength(1);
    expect(requestsSince(start, "git/update-ref")).toHaveLength(1);
    expect(requestsSince(start, "git/update-ref")[0]!.body).toMatchObject({ sha, force: false });
    expect(fake.commit(sha).parents).toEqual([head]);
    expect(fake.commit(sha).message).toContain("Record 2 Crucible results");
    const added = fake.added(sha);
    expect(added).toContain(`experiments/hello-sandbox/results/${helloRunId}/result.json`);
    expect(added).toContain("experiments/hostile/results/20261122T030000Z-abcdef/output/result.json");
    expect(added.every((f) => f.startsWith("experiments/hello-sandbox/results/") || f.startsWith("experiments/hostile/results/"))).toBe(
      true,
    );

    expect(fake.statuses.filter((s) => s.sha === head).at(-1)).toMatchObject({
      state: "failure",
      description: "1 of 2 evaluations succeeded",
    });
    expect(fake.statuses.filter((s) => s.sha === sha)).toEqual([
      expect.objectContaining({ state: "failure", description: `1 of 2 evaluations succeeded (results of ${head.slice(0, 7)})` }),
    ]);
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain("Crucible evaluation: 1 of 2 runs succeeded");
    expect(ourComments()[0]!.body).toContain(`Recorded in <a href="https://github.com/octo/lab/commit/${sha}">`);
    expect(requestsSince(start, "issues/update-comment")).toHaveLength(1);
    expect(requestsSince(start, "issues/create-comment")).toHaveLength(0);
    expect(fake.comments.find((c) => c.login === "mallory")!.body).toBe(`${MARKER}\nresults forged by a person`);
    expect(run.summary).toContain("Crucible evaluation: 1 of 2 runs succeeded");
    // The runner consumes the add-mask command; the token appears nowhere else.
    expect(run.stdout).toContain(`::add-mask::${token}`);
    expect(run.stdout.replace(`::add-mask::${token}`, "")).not.toContain(token);
    expect(fake.violations).toEqual([]);
  });

  it("escapes hostile result text in the comment", () => {
    const body = ourComments()[0]!.body;
    expect(body).not.toMatch(/<script|href="javascript|\[click\]|\(javascript|`rm|\[x\]/);
    expect(body).not.toContain("@octocat");
    expect(body).toContain("&#60;script&#62;alert&#40;1&#41;&#60;/script&#62;");
    expect(body).toContain("a&#124;b = 1");
    // The upload claimed a javascript: job URL; the run's own URL, from GitHub, replaced it.
    const hostileRow = body.split("\n").find((l) => l.startsWith("| hostile"))!;
    expect(hostileRow).not.toContain('href="javascript');
    const hostileJob = fake.runs.get(RUN_ID)!.jobs.find((j) => j.name === "evaluate (experiments/hostile)")!;
    expect(hostileRow).toContain(`<a href="https://github.com/octo/lab/actions/runs/${RUN_ID}/job/${hostileJob.id}">job log</a>`);
    // Every table row keeps its four cells: no value added a pipe.
    for (const row of body.split("\n").filter((l) => l.startsWith("|"))) expect(row.split("|")).toHaveLength(6);
  });

  it("never puts results on a head someone pushed after the evaluated one: they go to a branch of their own", async () => {
    const evaluated = fake.head("feature");
    const start = fake.requests.length;
    fake.pushBeforeNextUpdate("feature", { "notes/theirs.md": "pushed by someone else\n" });
    const run = await act("record", { artifacts: await makeArtifacts(evaluated) }, { ...plan, head: evaluated });
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(`moved to ${fake.head("feature")} after ${evaluated} was evaluated`);
    expect(requestsSince(start, "git/update-ref").map((u) => u.status)).toEqual([422]);
    const parked = fake.head(`results/pr-1-${evaluated.slice(0, 12)}`);
    expect(fake.commit(parked).parents).toEqual([evaluated]);
    expect(fake.files(fake.head("feature")).get("notes/theirs.md")).toBe("pushed by someone else\n");
    // The verdict is on the evaluated commit only: neither the pushed head nor the parked commit gets one.
    expect(fake.statuses.filter((st) => st.sha === fake.head("feature") || st.sha === parked)).toEqual([]);
    expect(fake.statuses.at(-1)).toMatchObject({ sha: evaluated, state: "failure" });
    expect(ourComments()[0]!.body).toContain(`results/pr-1-${evaluated.slice(0, 12)}`);
    expect(run.outputs["commit-sha"]).toBeUndefined();
    expect(fake.violations).toEqual([]);
  });

  it("takes no run of an experiment whose artifact holds two, and says so", async () => {
    const evaluated = fake.head("feature");
    const doubled = await makeArtifacts(evaluated);
    const folder = path.join(doubled, artifactName("experiments/hello-sandbox"));
    await cp(path.join(folder, helloRunId), path.join(folder, "20261122T040000Z-0ff1ce"), { recursive: true });
    const run = await act("record", { artifacts: doubled }, { ...plan, head: evaluated });
    expect(run.code, run.stdout).toBe(0);
    const body = ourComments()[0]!.body;
    expect(body).toContain("one of 2 run folders where the evaluate job writes one; none is taken");
    expect(body).toContain("experiments/hello-sandbox</code>: no result was recorded");
    // One of two planned experiments has no run: the verdict is failure whatever the other did.
    expect(fake.statuses.filter((st) => st.sha === evaluated).at(-1)).toMatchObject({
      state: "failure",
      description: "0 of 2 evaluations succeeded",
    });
  });

  it("drops what does not belong to the plan, lists it, and says why nothing ran when nothing is left", async () => {
    const poisoned = await mkdtemp(path.join(os.tmpdir(), "crucible-poisoned-"));
    const forged = path.join(poisoned, artifactName("experiments/hello-sandbox"), "20261122T040000Z-abcdef");
    await mkdir(forged, { recursive: true });
    await writeFile(path.join(forged, "result.json"), JSON.stringify({ schemaVersion: 2 }));
    await mkdir(path.join(poisoned, "result-unplanned-00000000", "20261122T040000Z-abcdef"), { recursive: true });
    const start = fake.requests.length;
    const run = await act("record", { artifacts: poisoned, evaluation: "failure" }, { ...plan, head: fake.head("feature") });
    expect(run.code, run.stdout).toBe(0);
    expect(requestsSince(start, "git/create-commit")).toHaveLength(0);
    const body = ourComments()[0]!.body;
    expect(body).toContain("did not run");
    expect(body).toContain("does not match the result schema");
    expect(body).toContain("result-unplanned-00000000");
    await rm(poisoned, { recursive: true, force: true });
    expect(fake.violations).toEqual([]);
  });

  it("takes no result artifact that GitHub created outside its experiment's evaluate job, and says so", async () => {
    // An escaped build job uploads hello-sandbox's results artifact before any evaluate job starts; the
    // real upload is then refused (names are unique per run), hostile's is made by its evaluate job.
    const runId = 9002;
    registerRun(runId);
    const ofRun = { ...plan, head: fake.head("feature"), workflowRunUrl: `https://github.com/octo/lab/actions/runs/${runId}` };
    const [hello, hostile] = ofRun.experiments;
    const build = startJob(runId, "build (experiments/hello-sandbox)");
    const forged = fake.createArtifact(runId, hello!.artifact);
    finishJob(build);
    // The announce job and the reviewer's approval come between the builds and the evaluate jobs.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const helloJob = startJob(runId, `evaluate (${hello!.dir})`);
    expect(() => fake.createArtifact(runId, hello!.artifact)).toThrow("(409) Conflict: an artifact with this name already exists");
    finishJob(helloJob, "failure");
    const hostileJob = startJob(runId, `evaluate (${hostile!.dir})`);
    fake.createArtifact(runId, hostile!.artifact);
    finishJob(hostileJob, "failure");

    const start = fake.requests.length;
    const run = await act("record", { artifacts: await makeArtifacts(ofRun.head), evaluation: "failure" }, ofRun, runId);
    expect(run.code, run.stdout).toBe(0);
    expect(requestsSince(start, "actions/list-workflow-run-artifacts")).toHaveLength(1);
    const added = fake.added(run.outputs["commit-sha"]!);
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((f) => f.startsWith("experiments/hostile/results/"))).toBe(true);
    const why = `GitHub created it at ${forged.createdAt}, outside its evaluate job (${helloJob.startedAt} to ${helloJob.completedAt})`;
    expect(run.stdout).toContain(`ignored "${hello!.artifact}": ${why}`);
    const body = ourComments()[0]!.body;
    expect(body).toContain(hello!.artifact);
    expect(body).toContain("a build job running the pull request");
    expect(body).toContain("experiments/hello-sandbox</code>: no result was recorded");
    expect(fake.violations).toEqual([]);
  });

  it("takes nothing from an artifact GitHub does not list for this run, or from a run without evaluate jobs", async () => {
    const runId = 9003;
    registerRun(runId);
    const ofRun = { ...plan, head: fake.head("feature"), workflowRunUrl: `https://github.com/octo/lab/actions/runs/${runId}` };
    const start = fake.requests.length;
    const run = await act("record", { artifacts: await makeArtifacts(ofRun.head), evaluation: "failure" }, ofRun, runId);
    expect(run.code, run.stdout).toBe(0);
    expect(requestsSince(start, "git/create-commit")).toHaveLength(0);
    expect(run.stdout).toContain(`ignored "${ofRun.experiments[0]!.artifact}": GitHub lists no artifact of this name in this workflow run`);
    // Listed, but no evaluate job of this attempt ran: still nobody GitHub knows made it.
    fake.createArtifact(runId, ofRun.experiments[0]!.artifact);
    const again = await act("record", { artifacts: await makeArtifacts(ofRun.head), evaluation: "failure" }, ofRun, runId);
    expect(again.stdout).toContain("GitHub shows no completed evaluate job of this attempt for experiments/hello-sandbox");
    expect(fake.runs.get(runId)!.artifacts).toHaveLength(1);
    expect(fake.violations).toEqual([]);
  });
});

describe("actions/record preflight", () => {
  it("passes while the experiment's result names are free, and fails naming the artifact that took one", async () => {
    const runId = 9004;
    registerRun(runId);
    const ofRun = { ...plan, workflowRunUrl: `https://github.com/octo/lab/actions/runs/${runId}` };
    const hello = ofRun.experiments[0]!.artifact;
    const free = await act("preflight", { "result-artifact": hello }, ofRun, runId);
    expect(free.code, free.stdout).toBe(0);
    expect(free.stdout).toContain(`${hello} and stored-${hello}: no artifact of this run has these names yet`);

    const taken = fake.createArtifact(runId, `stored-${hello}`);
    const refused = await act("preflight", { "result-artifact": hello }, ofRun, runId);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toContain(
      `::error::this workflow run already has an artifact named stored-${hello} (id ${taken.id}, created ${taken.createdAt}), ` +
        "uploaded before this evaluate job ran",
    );
    expect(refused.stdout).toContain("Nothing was run");

    const unplanned = await act("preflight", { "result-artifact": "result-elsewhere-00000000" }, ofRun, runId);
    expect(unplanned.code).not.toBe(0);
    expect(unplanned.stdout).toContain("result-artifact must be the artifact of a planned experiment");
    expect(fake.violations).toEqual([]);
  });
});
