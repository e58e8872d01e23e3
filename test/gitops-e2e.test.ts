// One pull request's life through .github/workflows/evaluate.yml, end to end, without GitHub: a webhook
// example payload re-pointed at a real bare "origin" repository, the workflow's plan → evaluate → record
// jobs run in order with the bundled local actions (loaded from each job's checkout of the base commit,
// with their `with:` inputs and expressions as the workflow gives them), the experiment run under runsc,
// and the record step talking to the fake GitHub, which checks every request and response against
// GitHub's OpenAPI description. GitHub's own actions (checkout, upload/download-artifact) are simulated
// by the harness in support/workflow-runner.ts; the workflow's `run:` scripts (git fetch) run for real.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FakeGitHub } from "./support/fake-github.js";
import { repoRoot } from "./support/repo.js";
import {
  evaluateExpression,
  filesAt,
  interpolate,
  git,
  makeBareOrigin,
  makePullRequestRepo,
  pullRequestEvent,
  runWorkflow,
  writeFiles,
  type PullRequestRepo,
  type WorkflowRun,
} from "./support/workflow-runner.js";

const OWNER = "octo";
const REPO = "lab";
const REPOSITORY = `${OWNER}/${REPO}`;
const PR = 42;
const HEAD_REF = "add-experiment";
const TOKEN = "ghs_fakeEndToEndToken0123456789";
const MARKER = "<!-- crucible:results -->";
const BOT = "github-actions[bot]";
const JOBS = ["plan", "evaluate", "record"];
const WORKFLOW = ".github/workflows/evaluate.yml";

type Json = Record<string, any>;

/** What the base branch holds: the Crucible checkout the three jobs load their actions and configuration from. */
async function baseFiles(): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  const add = async (relative: string) => (files[relative] = await readFile(path.join(repoRoot, relative)));
  const addTree = async (relative: string) => {
    for (const entry of await readdir(path.join(repoRoot, relative), { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) await add(path.relative(repoRoot, path.join(entry.parentPath, entry.name)));
    }
  };
  for (const f of ["README.md", WORKFLOW, "runner-setup/policy.json", "experiments/hello-sandbox/experiment.yaml", "experiments/hello-sandbox/main.py"]) await add(f);
  for (const action of ["plan", "run", "record"]) {
    await add(`actions/${action}/action.yml`);
    await add(`actions/${action}/dist/index.js`);
  }
  for (const dir of ["schemas", "runner-setup/images", "runner-setup/image-files"]) await addTree(dir);
  return files;
}

/** The pull request: hello-sandbox copied under a new name. */
async function headFiles(): Promise<Record<string, string>> {
  const yaml = (await readFile(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), "utf8")).replace(/^name: hello-sandbox$/m, "name: hello-pr");
  expect(yaml).toContain("name: hello-pr");
  return { "experiments/hello-pr/experiment.yaml": yaml, "experiments/hello-pr/main.py": await readFile(path.join(repoRoot, "experiments/hello-sandbox/main.py"), "utf8") };
}

let repo: PullRequestRepo;
let origin: string;
let fake: FakeGitHub;
let workflow: Json;
let seedHead: string;

/** The workflow as the base branch has it: pull_request_target always runs the default branch's copy. */
async function readWorkflow(): Promise<Json> {
  return parse(git(origin, "show", `${repo.base}:${WORKFLOW}`));
}

/** The local `./` steps of plan → evaluate → record, in order, with their `with:` inputs. */
function localSteps(wf: Json): { job: string; uses: string; with: Json; if?: string }[] {
  return JOBS.flatMap((job) => (wf.jobs[job].steps as Json[]).filter((s) => String(s.uses ?? "").startsWith("./")).map((s) => ({ job, uses: s.uses, with: s.with ?? {}, ...(s.if ? { if: s.if } : {}) })));
}

async function playWorkflow(event: Json, runId: string, wf: Json = workflow, jobs = JOBS, github: { fake: FakeGitHub; origin: string } = { fake, origin }): Promise<WorkflowRun> {
  const root = await mkdtemp(path.join(os.tmpdir(), "crucible-e2e-run-"));
  return runWorkflow({
    workflow: wf,
    jobs,
    event,
    eventName: "pull_request_target",
    github: {
      // pull_request_target: GITHUB_SHA and GITHUB_REF are the base branch's.
      sha: event.pull_request.base.sha,
      ref: "refs/heads/main",
      ref_name: "main",
      head_ref: event.pull_request.head.ref,
      base_ref: event.pull_request.base.ref,
      repository: REPOSITORY,
      repository_owner: OWNER,
      actor: event.sender.login,
      server_url: "https://github.com",
      api_url: github.fake.url,
      run_id: runId,
      run_number: runId,
      run_attempt: "1",
    },
    token: TOKEN,
    origin: github.origin,
    root,
    runners: { "hosted-1": ["ubuntu-latest"], "gvisor-runner-1": ["self-hosted", "linux", "gvisor", "X64"] },
    env: { GITHUB_API_URL: github.fake.url },
    approve: () => true,
    onStep: (_job, step) => {
      // The workflow's scripts run for real here: only the fetch-as-data scripts are expected.
      for (const line of String(step.run ?? "").split("\n")) expect(line).toMatch(/^\s*(#.*|auth=.*|echo "::add-mask::\$auth"|export GIT_CONFIG_COUNT=.*|git (fetch|cat-file) .*|)\s*$/);
    },
  });
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`)));
    else out.push(`${prefix}${entry.name}`);
  }
  return out;
}

const ops = (since: number, operationId: string) => fake.requests.slice(since).filter((r) => r.operationId === operationId);
const ourComments = () => fake.comments.filter((c) => c.issueNumber === PR && c.login === BOT && c.body.startsWith(MARKER));

beforeAll(async () => {
  repo = await makePullRequestRepo(await baseFiles(), await headFiles());
  origin = await makeBareOrigin(repo, { headRef: HEAD_REF, pullRequest: PR });
  fake = await FakeGitHub.start({ owner: OWNER, repo: REPO, token: TOKEN, branches: { main: filesAt(repo.dir, repo.base), [HEAD_REF]: filesAt(repo.dir, repo.head) } });
  seedHead = fake.head(HEAD_REF);
  workflow = await readWorkflow();
});

afterAll(async () => fake?.close());

describe("evaluate.yml end to end", () => {
  it("the fake GitHub holds the same trees as origin", () => {
    // The fake hashes objects like git: its branches are the bare repository's commits' trees.
    expect(fake.commit(fake.head("main")).tree).toBe(git(origin, "rev-parse", `${repo.base}^{tree}`));
    expect(fake.commit(seedHead).tree).toBe(git(origin, "rev-parse", `${repo.head}^{tree}`));
  });

  let first: WorkflowRun;
  let recordedFirst: string;
  let runFiles: Map<string, string>;

  it("plans, waits for approval, runs hello-pr under runsc and records one commit, one comment and a status", async () => {
    const event = pullRequestEvent({ number: PR, base: repo.base, head: repo.head, repository: REPOSITORY, headRef: HEAD_REF });
    first = await playWorkflow(event, "1001");
    const diagnostics = first.steps.map((s) => `${s.job}/${s.name}: ${s.outcome}\n${s.run?.stdout ?? ""}${s.run?.stderr ?? ""}`).join("\n");
    expect(Object.fromEntries(Object.values(first.jobs).map((j) => [j.name, j.result])), diagnostics).toEqual({ plan: "success", evaluate: "success", record: "success" });

    // The local steps that ran are the workflow's, in its order, with its inputs; the fork-only ones were skipped.
    const declared = localSteps(workflow);
    const ran = first.steps.filter((s) => s.uses?.startsWith("./"));
    expect(ran.map((s) => [s.job, s.uses, Object.keys(s.with)])).toEqual(declared.map((s) => [s.job, s.uses, Object.keys(s.with)]));
    declared.forEach((d, i) => expect(ran[i]!.outcome, `${d.job} ${d.uses}`).toBe(d.if?.includes("fork == 'true'") ? "skipped" : "success"));
    expect(ran.filter((s) => s.outcome === "success").map((s) => `${s.job}:${s.uses}:${s.with.mode ?? ""}`)).toEqual([
      "plan:./actions/plan:plan",
      "evaluate:./actions/plan:materialize",
      "evaluate:./actions/run:",
      "record:./actions/record:",
    ]);

    // plan: exactly the new experiment, at the head commit, read as data from a base-branch checkout.
    const plan = first.jobs.plan!;
    expect(JSON.parse(plan.outputs.matrix!)).toEqual({
      include: [{ experiment: "experiments/hello-pr/experiment.yaml", dir: "experiments/hello-pr", name: "hello-pr", gpus: 0, "runs-on": ["self-hosted", "linux", "gvisor"], artifact: "result-hello-pr" }],
    });
    expect(plan.outputs).toMatchObject({ count: "1", "head-sha": repo.head, "base-sha": repo.base, "pr-number": String(PR), fork: "false", "record-branch": HEAD_REF, "max-parallel": "4", "report-url": `https://${OWNER}.github.io/${REPO}/` });
    const planWorkspace = plan.instances[0]!.workspace;
    expect(git(planWorkspace, "rev-parse", "HEAD")).toBe(repo.base);
    expect(existsSync(path.join(planWorkspace, "experiments/hello-pr"))).toBe(false);

    // evaluate: one matrix entry, approved in the evaluation environment, on the gVisor runner.
    const evaluate = first.jobs.evaluate!;
    expect(first.approvals).toEqual([{ job: "evaluate", environment: "evaluation", matrix: JSON.parse(plan.outputs.matrix!).include[0] }]);
    expect(evaluate.instances).toHaveLength(1);
    const instance = evaluate.instances[0]!;
    expect(instance).toMatchObject({ displayName: "evaluate (experiments/hello-pr)", runsOn: ["self-hosted", "linux", "gvisor"], runner: "gvisor-runner-1", result: "success" });
    // The workspace holding ./actions is the base commit; the pull request's folder went to RUNNER_TEMP.
    expect(git(instance.workspace, "rev-parse", "HEAD")).toBe(repo.base);
    expect(existsSync(path.join(instance.workspace, "experiments/hello-pr"))).toBe(false);
    const materialize = instance.steps.find((s) => s.id === "materialize")!;
    expect(materialize.outputs["experiment-file"]).toBe(path.join(instance.temp, "pr/experiments/hello-pr/experiment.yaml"));

    const runStep = instance.steps.find((s) => s.id === "run")!;
    expect(runStep.with).toEqual({ experiment: materialize.outputs["experiment-file"], "results-dir": path.join(instance.temp, "results/experiments/hello-pr/results"), "pull-request": String(PR) });
    expect(runStep.outputs.status, runStep.run?.stdout).toBe("succeeded");
    // The run action's post step ran at the end of the job and found no sandbox left behind.
    expect(runStep.post?.code).toBe(0);
    expect(runStep.post?.stdout).toContain("no sandbox of this job was left");
    const resultDir = path.join(instance.temp, "results/experiments/hello-pr/results", runStep.outputs["run-id"]!);
    const result = JSON.parse(await readFile(path.join(resultDir, "result.json"), "utf8"));
    expect(result).toMatchObject({ status: "succeeded", runtime: { name: "runsc" }, experiment: { name: "hello-pr", path: "experiments/hello-pr/experiment.yaml" } });
    expect(result.provenance).toMatchObject({ runner: "gvisor-runner-1", gitCommit: repo.base, jobUrl: `https://github.com/${REPOSITORY}/actions/runs/1001/attempts/1`, pullRequest: PR });
    // The program saw gVisor's kernel, not the host's.
    const observations = JSON.parse(await readFile(path.join(resultDir, "output/observations.json"), "utf8"));
    expect(observations.dmesg.value.join("\n")).toContain("Starting gVisor");

    // record: one commit on the PR branch holding every file of the run, nothing else changed.
    runFiles = new Map();
    for (const f of await listFiles(path.join(instance.temp, "results"))) runFiles.set(f, await readFile(path.join(instance.temp, "results", f), "utf8"));
    expect([...runFiles.keys()].sort()).toEqual(expect.arrayContaining([`experiments/hello-pr/results/${result.runId}/result.json`, `experiments/hello-pr/results/${result.runId}/log.txt`, `experiments/hello-pr/results/${result.runId}/output/metrics.json`]));
    const recordStep = first.jobs.record!.instances[0]!.steps.find((s) => s.uses === "./actions/record")!;
    expect(recordStep.with).toEqual({ token: TOKEN, results: "experiments", branch: HEAD_REF, "pr-number": String(PR), "report-url": `https://${OWNER}.github.io/${REPO}/` });
    recordedFirst = recordStep.outputs["commit-sha"]!;
    expect(fake.head(HEAD_REF)).toBe(recordedFirst);
    expect(ops(0, "git/create-commit")).toHaveLength(1);
    expect(ops(0, "git/update-ref")).toHaveLength(1);
    expect(fake.commit(recordedFirst).parents).toEqual([seedHead]);
    const before = fake.files(seedHead);
    const after = fake.files(recordedFirst);
    const added = new Map([...after].filter(([p, c]) => before.get(p) !== c));
    expect(added).toEqual(runFiles);
    expect([...before.keys()].filter((p) => !after.has(p))).toEqual([]);

    // One sticky comment, and a status on the recorded commit.
    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain("hello-pr");
    expect(ourComments()[0]!.body).toContain(`Recorded in ${recordedFirst}`);
    expect(ops(0, "issues/create-comment")).toHaveLength(1);
    expect(fake.statuses).toEqual([expect.objectContaining({ sha: recordedFirst, state: "success", context: "crucible/results" })]);
    expect(fake.violations).toEqual([]);
  });

  it("publish: the recorded commit, merged, builds into a site showing the run under the repository's base path", async () => {
    // publish.yml's build step, with its env as the workflow gives it, over the tree the record step committed.
    const publish = parse(await readFile(path.join(repoRoot, ".github/workflows/publish.yml"), "utf8")) as Json;
    const build = (publish.jobs.build.steps as Json[]).find((step) => step.run === "npm run site")!;
    const pushEvent = { ref: "refs/heads/main", repository: { name: REPO, full_name: REPOSITORY, default_branch: "main" } };
    const checkout = await mkdtemp(path.join(os.tmpdir(), "crucible-publish-"));
    const runnerTemp = await mkdtemp(path.join(os.tmpdir(), "crucible-publish-temp-"));
    const context = { github: { event: pushEvent, ref_name: "main", repository: REPOSITORY }, runner: { temp: runnerTemp } };
    const env = Object.fromEntries(Object.entries(build.env as Record<string, string>).map(([k, v]) => [k, String(interpolate(v, context))]));
    expect(env.CRUCIBLE_SITE_BASE).toBe(`/${REPO}/`);
    // What the fetch step leaves when the deployed site (before this result) showed no runs.
    expect(env.CRUCIBLE_PREVIOUS_MANIFEST).toBe(path.join(runnerTemp, "previous-manifest.json"));
    await writeFile(env.CRUCIBLE_PREVIOUS_MANIFEST!, JSON.stringify({ format: "crucible-site-manifest/1", runs: {} }));
    await writeFiles(checkout, Object.fromEntries([...fake.files(recordedFirst)].filter(([p]) => p.startsWith("experiments/"))));
    const out = path.join(checkout, "site-dist");
    const binDir = path.join(repoRoot, "node_modules/.bin");
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile(path.join(binDir, "astro"), ["build", "--root", "site"], {
        cwd: repoRoot,
        env: { PATH: `${binDir}:${process.env.PATH}`, HOME: os.homedir(), ...env, CRUCIBLE_SITE_OUT: out, CRUCIBLE_EXPERIMENTS_DIR: path.join(checkout, "experiments"), CRUCIBLE_REPO_ROOT: checkout },
      }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: `${stdout}${stderr}` })),
    );
    expect(code, output).toBe(0);
    const runId = [...runFiles.keys()][0]!.split("/")[3]!;
    const page = await readFile(path.join(out, "runs/hello-pr", runId, "index.html"), "utf8");
    expect(page).toContain("succeeded");
    expect(page).toContain(`href="/${REPO}/experiments/hello-pr/"`);
    expect(await readFile(path.join(out, "index.html"), "utf8")).toMatch(/1 new run[\s\S]*hello-pr/);
  });

  it("a second run of the pull request (reopened at the results commit) updates the same comment", async () => {
    // The record commit lives on the PR branch now: mirror it into origin, as GitHub's branch would hold it.
    git(repo.dir, "checkout", "-q", "pr");
    const recorded = fake.files(recordedFirst);
    await writeFiles(repo.dir, Object.fromEntries([...recorded].filter(([p]) => p.includes("/results/"))));
    git(repo.dir, "add", "-A");
    git(repo.dir, "commit", "-q", "-m", "Record Crucible results");
    const newHead = git(repo.dir, "rev-parse", "HEAD");
    git(repo.dir, "checkout", "-q", "main");
    expect(git(repo.dir, "rev-parse", `${newHead}^{tree}`)).toBe(fake.commit(recordedFirst).tree);
    git(repo.dir, "push", "-q", "--force", origin, `${newHead}:refs/heads/${HEAD_REF}`, `${newHead}:refs/pull/${PR}/head`);

    const start = fake.requests.length;
    const event = pullRequestEvent({ number: PR, base: repo.base, head: newHead, repository: REPOSITORY, headRef: HEAD_REF, action: "reopened" });
    const second = await playWorkflow(event, "1002");
    const diagnostics = second.steps.map((s) => `${s.job}/${s.name}: ${s.outcome}\n${s.run?.stdout ?? ""}${s.run?.stderr ?? ""}`).join("\n");
    expect(Object.values(second.jobs).map((j) => j.result), diagnostics).toEqual(["success", "success", "success"]);
    // Committed results do not make anything else run: still exactly hello-pr.
    expect(JSON.parse(second.jobs.plan!.outputs.matrix!).include.map((e: Json) => e.dir)).toEqual(["experiments/hello-pr"]);
    expect(second.jobs.plan!.outputs["head-sha"]).toBe(newHead);

    const recordedSecond = second.jobs.record!.instances[0]!.steps.find((s) => s.uses === "./actions/record")!.outputs["commit-sha"]!;
    expect(fake.commit(recordedSecond).parents).toEqual([recordedFirst]);
    expect(ops(start, "git/create-commit")).toHaveLength(1);
    // The first run's files are still there, the second run's added.
    const files = fake.files(recordedSecond);
    for (const [p, content] of runFiles) expect(files.get(p), p).toBe(content);
    const secondRunId = second.jobs.evaluate!.instances[0]!.steps.find((s) => s.id === "run")!.outputs["run-id"]!;
    expect(files.has(`experiments/hello-pr/results/${secondRunId}/result.json`)).toBe(true);

    expect(ourComments()).toHaveLength(1);
    expect(ourComments()[0]!.body).toContain(`Recorded in ${recordedSecond}`);
    expect(ops(start, "issues/create-comment")).toHaveLength(0);
    expect(ops(start, "issues/update-comment")).toHaveLength(1);
    expect(fake.statuses.map((s) => s.sha)).toEqual([recordedFirst, recordedSecond]);
    expect(fake.violations).toEqual([]);
  });
});

describe("the harness breaks when the workflow and an action disagree", () => {
  const event = () => pullRequestEvent({ number: PR, base: repo.base, head: repo.head, repository: REPOSITORY, headRef: HEAD_REF });
  const planStep = (wf: Json) => (wf.jobs.plan.steps as Json[]).find((s) => s.uses === "./actions/plan")!;

  it("fails on a with: input the action does not declare", async () => {
    const wf = structuredClone(workflow);
    planStep(wf).with["max-paralel"] = "4";
    await expect(playWorkflow(event(), "2001", wf, ["plan"])).rejects.toThrow(/gives \.\/actions\/plan the input max-paralel, which its action\.yml does not declare/);
  });

  it("fails on an output no step produced", async () => {
    const wf = structuredClone(workflow);
    wf.jobs.plan.outputs.matrix = "${{ steps.plan.outputs.matrixx }}";
    await expect(playWorkflow(event(), "2002", wf, ["plan"])).rejects.toThrow(/steps\.plan\.outputs\.matrixx does not exist/);
  });

  it("fails on a job output another job does not have", async () => {
    const wf = structuredClone(workflow);
    (wf.jobs.evaluate.steps as Json[]).find((s) => s.id === "materialize")!.with["head-sha"] = "${{ needs.plan.outputs.head }}";
    await expect(playWorkflow(event(), "2003", wf, ["plan", "evaluate"])).rejects.toThrow(/needs\.plan\.outputs\.head does not exist/);
  });

  it("evaluates the expression forms the workflows use", () => {
    const ctx = { needs: { plan: { result: "success", outputs: { count: "0", fork: "false", matrix: '{"include":[{"a":1}]}' } } }, github: { event: { pull_request: { number: 7 } } } };
    expect(evaluateExpression("needs.plan.outputs.count != '0'", ctx)).toBe(false);
    expect(evaluateExpression("always() && needs.plan.result == 'success'", ctx)).toBe(true);
    expect(evaluateExpression("needs.plan.outputs.fork == 'true' || 'no'", ctx)).toBe("no");
    expect(evaluateExpression("fromJSON(needs.plan.outputs.matrix).include[0].a", ctx)).toBe(1);
    expect(evaluateExpression("format('evaluate-{0}', github.event.pull_request.number)", ctx)).toBe("evaluate-7");
    expect(() => evaluateExpression("needs.record.outputs.x", ctx)).toThrow(/needs\.record does not exist/);
  });
});

describe("evaluate.yml with a multi-stage experiment", () => {
  it("uploads the stored stage artifacts as their own Actions artifact and commits only the results", async () => {
    const program = [
      "import hashlib, json, os, sys",
      "if sys.argv[1] == 'make':",
      "    open('/output/weights.bin', 'wb').write(b'w' * 2048)",
      "else:",
      "    digest = hashlib.sha256(open('/artifacts/make/weights.bin', 'rb').read()).hexdigest()",
      "    json.dump({'bytes_seen': {'value': os.path.getsize('/artifacts/make/weights.bin'), 'unit': 'bytes'}}, open('/output/metrics.json', 'w'))",
      "    print('loaded', digest)",
      "",
    ].join("\n");
    const yaml = [
      "apiVersion: crucible/v1",
      "name: staged-pr",
      "description: two stages handing on a file",
      "image: base",
      "inputs: [stage.py]",
      "resources: {cpus: 1, memory: 256Mi, timeout: 60s}",
      "stages:",
      "  make:",
      "    command: [python3, stage.py, make]",
      "    artifacts: [weights.bin]",
      "  use:",
      "    needs: [make]",
      "    command: [python3, stage.py, use]",
      "",
    ].join("\n");
    const stagedRepo = await makePullRequestRepo(await baseFiles(), { "experiments/staged-pr/experiment.yaml": yaml, "experiments/staged-pr/stage.py": program });
    const stagedOrigin = await makeBareOrigin(stagedRepo, { headRef: HEAD_REF, pullRequest: PR });
    const stagedFake = await FakeGitHub.start({ owner: OWNER, repo: REPO, token: TOKEN, branches: { main: filesAt(stagedRepo.dir, stagedRepo.base), [HEAD_REF]: filesAt(stagedRepo.dir, stagedRepo.head) } });
    try {
      const seed = stagedFake.head(HEAD_REF);
      const event = pullRequestEvent({ number: PR, base: stagedRepo.base, head: stagedRepo.head, repository: REPOSITORY, headRef: HEAD_REF });
      const run = await playWorkflow(event, "2001", workflow, JOBS, { fake: stagedFake, origin: stagedOrigin });
      const diagnostics = run.steps.map((s) => `${s.job}/${s.name}: ${s.outcome}\n${s.run?.stdout ?? ""}${s.run?.stderr ?? ""}`).join("\n");
      expect(Object.fromEntries(Object.values(run.jobs).map((j) => [j.name, j.result])), diagnostics).toEqual({ plan: "success", evaluate: "success", record: "success" });

      const instance = run.jobs.evaluate!.instances[0]!;
      const runStep = instance.steps.find((s) => s.id === "run")!;
      expect(runStep.outputs.status).toBe("succeeded");
      const resultFile = path.join(instance.temp, "results/experiments/staged-pr/results", runStep.outputs["run-id"]!, "result.json");
      const result = JSON.parse(await readFile(resultFile, "utf8"));
      const [stored] = result.storedArtifacts;
      expect(stored).toMatchObject({ stage: "make", path: "weights.bin", size: 2048 });
      expect(result.metrics).toEqual({ bytes_seen: 2048 });
      expect(runStep.outputs["stored-artifacts"]).toMatch(new RegExp(`/sha256/${stored.sha256}$`));

      // The upload step ran and the Actions artifact holds the checkpoint under its hash.
      const upload = instance.steps.find((s) => s.name?.startsWith("Upload the stored stage artifacts"))!;
      expect(upload.outcome).toBe("success");
      const uploaded = path.join(run.artifactsDir, "stored-result-staged-pr", stored.sha256);
      expect((await readFile(uploaded)).length).toBe(2048);

      // The record commit holds the results (both stages' logs and outputs) but never the stored file.
      const recorded = run.jobs.record!.instances[0]!.steps.find((s) => s.uses === "./actions/record")!.outputs["commit-sha"]!;
      const added = [...stagedFake.files(recorded).keys()].filter((p) => !stagedFake.files(seed).has(p));
      expect(added).toEqual(expect.arrayContaining([expect.stringMatching(/stages\/use\/output\/metrics\.json$/), expect.stringMatching(/stages\/make\/log\.txt$/)]));
      expect(added.filter((p) => p.endsWith("weights.bin"))).toEqual([]);
      expect(stagedFake.violations).toEqual([]);
    } finally {
      await stagedFake.close();
    }
  }, 300_000);
});
