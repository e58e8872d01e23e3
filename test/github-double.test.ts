// The GitHub double's behaviour, on small workflows of its own: what GitHub delivers and what it does
// not, concurrency, environment reviews, token permissions. The GitOps end-to-end tests rely on these.
import { afterEach, describe, expect, it } from "vitest";
import { GitHubSim, type SimOptions } from "./support/github-sim.js";

const RUNNERS = { "hosted-1": ["ubuntu-latest"] };
let sim: GitHubSim | undefined;
afterEach(async () => sim?.close());

async function start(workflows: Record<string, string>, extra: Partial<SimOptions> = {}): Promise<GitHubSim> {
  const files: Record<string, string> = { "README.md": "# lab\n" };
  for (const [name, text] of Object.entries(workflows)) files[`.github/workflows/${name}`] = text;
  sim = await GitHubSim.start({
    owner: "octo",
    repo: "lab",
    files,
    people: { alice: "write", bob: "write", rita: "read" },
    runners: RUNNERS,
    ...extra,
  });
  return sim;
}

const echo = (on: string, extra = "") =>
  `name: ${on}\non: ${on}\n${extra}permissions: {}\njobs:\n  echo:\n    runs-on: ubuntu-latest\n    permissions: ` +
  `{}\n    steps:\n      - run: echo "$GITHUB_EVENT_NAME $GITHUB_SHA"\n`;

describe("event delivery", () => {
  it("starts workflows for a person's pull request and push, and none for what GITHUB_TOKEN causes except workflow_dispatch", async () => {
    const botPush = [
      "name: bot",
      "on: workflow_dispatch",
      "permissions: {}",
      "jobs:",
      "  push:",
      "    runs-on: ubuntu-latest",
      "    permissions: { contents: write, pull-requests: write, actions: write }",
      "    steps:",
      "      - env: { TOKEN: '${{ github.token }}' }",
      "        run: |",
      "          api() { curl -fsS -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' " +
        '"$GITHUB_API_URL/repos/octo/lab/$1" ${2:+-d "$2"}; }',
      '          main=$(api git/ref/heads/main | sed -n \'s/.*"sha": *"\\([0-9a-f]*\\)".*/\\1/p\' | tail -1)',
      '          api git/refs "{\\"ref\\":\\"refs/heads/bot\\",\\"sha\\":\\"$main\\"}"',
      '          api pulls \'{"title":"bot","head":"bot","base":"main"}\'',
      '          api actions/workflows/pr.yml/dispatches \'{"ref":"main"}\'',
      "",
    ].join("\n");
    const s = await start({
      "pr.yml": echo("[pull_request, workflow_dispatch]"),
      "target.yml": echo("pull_request_target"),
      "push.yml": echo("push"),
      "bot.yml": botPush,
    });
    s.push("alice", "feature", { "notes.md": "hi\n" });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "feature", head: "feature", base: "main" });
    await s.settle();
    expect(s.runs.map((r) => `${r.workflow.split("/").pop()}:${r.eventName}`).sort()).toEqual([
      "pr.yml:pull_request",
      "push.yml:push",
      "target.yml:pull_request_target",
    ]);

    // The same things done by a workflow with its GITHUB_TOKEN: only the dispatch starts a run.
    await s.as("alice").rest.actions.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "bot.yml", ref: "main" });
    await s.settle();
    const bot = s.runsOf("bot.yml")[0]!;
    expect(
      bot.conclusion,
      JSON.stringify(
        bot.result?.steps.map((st) => st.run),
        null,
        1,
      ),
    ).toBe("success");
    expect(s.suppressed.map((e) => `${e.event.kind}${"action" in e.event ? `:${e.event.action}` : ""}`).sort()).toEqual([
      "pull_request:opened",
      "push",
    ]);
    expect(s.runsOf("pr.yml").map((r) => r.eventName)).toEqual(["pull_request", "workflow_dispatch"]);
    expect(s.runsOf("target.yml")).toHaveLength(1);
    expect(s.fake.violations).toEqual([]);
  });

  it("runs pull_request_target from the base branch with GITHUB_SHA the base's head, and pull_request from the merge commit", async () => {
    const s = await start({ "pr.yml": echo("pull_request"), "target.yml": echo("pull_request_target") });
    const head = s.push("alice", "change", {
      ".github/workflows/target.yml": "name: replaced\non: pull_request_target\njobs: {}\n",
      "x.txt": "x\n",
    });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "x", head: "change", base: "main" });
    await s.settle();
    const target = s.runsOf("target.yml")[0]!;
    expect(target.name).toBe("pull_request_target"); // the base branch's file, not the pull request's
    const main = s.fake.head("main");
    expect(target.result!.steps[0]!.run!.stdout.trim()).toBe(`pull_request_target ${main}`);
    const pr = s.runsOf("pr.yml")[0]!;
    const merge = s.fake.git.ref("pull/1/merge")!;
    expect(s.fake.commit(merge).parents).toEqual([main, head]);
    expect(pr.result!.steps[0]!.run!.stdout.trim()).toBe(`pull_request ${merge}`);
  });

  it("filters on types, branches and paths (a pull request's paths: its whole diff)", async () => {
    const s = await start({
      "docs.yml": echo("pull_request", "").replace(
        "on: pull_request\n",
        "on:\n  pull_request:\n    paths: ['docs/**']\n    types: [opened]\n",
      ),
    });
    s.push("alice", "code", { "src/a.ts": "a\n" });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "code", head: "code", base: "main" });
    s.push("alice", "docs", { "docs/a.md": "a\n" });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "docs", head: "docs", base: "main" });
    s.push("alice", "docs", { "src/b.ts": "b\n" }); // a synchronize: not in types
    await s.settle();
    expect(s.runsOf("docs.yml").map((r) => r.event.number)).toEqual([2]);
  });

  it("refuses a dispatch with inputs the workflow does not declare", async () => {
    const s = await start({
      "d.yml":
        "name: d\non:\n  workflow_dispatch:\n    inputs:\n      n: { type: string, required: true }\njobs:\n  a:\n    " +
        "runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n      - run: 'true'\n",
    });
    const api = s.as("alice").rest.actions;
    await expect(
      api.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "d.yml", ref: "main", inputs: { m: "1" } }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      api.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "d.yml", ref: "main", inputs: {} }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      s
        .as("rita")
        .rest.actions.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "d.yml", ref: "main", inputs: { n: "1" } }),
    ).rejects.toMatchObject({ status: 403 });
    await api.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "d.yml", ref: "main", inputs: { n: "1" } });
    await s.settle();
    expect(s.runs.map((r) => r.inputs)).toEqual([{ n: "1" }]);
  });
});

describe("environments and concurrency", () => {
  const gated = [
    "name: gated",
    "on: pull_request_target",
    "permissions: {}",
    "concurrency:",
    "  group: gated-${{ github.event.pull_request.number }}",
    "  cancel-in-progress: true",
    "jobs:",
    "  deploy:",
    "    runs-on: ubuntu-latest",
    "    environment: evaluation",
    "    permissions: {}",
    "    steps:",
    "      - run: echo deployed",
    "  after:",
    "    needs: deploy",
    "    if: always()",
    "    runs-on: ubuntu-latest",
    "    permissions: {}",
    "    steps:",
    "      - run: echo after",
    "",
  ].join("\n");
  const environments = { evaluation: { reviewers: ["alice", "bob"], preventSelfReview: true, branches: ["main"] } };

  it("waits for a required reviewer, refuses self-review and records who approved", async () => {
    const s = await start({ "gated.yml": gated }, { environments });
    s.push("alice", "f", { "a.txt": "a\n" });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "f", head: "f", base: "main" });
    await s.settle();
    const run = s.runs[0]!;
    expect(run.state).toBe("waiting");
    await expect(s.review("alice", run, "approved")).rejects.toMatchObject({ status: 422 });
    await expect(s.review("rita", run, "approved")).rejects.toMatchObject({ status: 422 });
    await s.review("bob", run, "approved", "looks fine");
    await s.settle();
    expect(run.conclusion).toBe("success");
    const { data } = await s.as("rita").rest.actions.getReviewsForRun({ owner: "octo", repo: "lab", run_id: run.id });
    expect(data.map((r) => [r.user.login, r.state, r.comment])).toEqual([["bob", "approved", "looks fine"]]);
    expect(s.fake.violations).toEqual([]);
  });

  it("a rejection fails the job; a newer run of the group cancels the waiting one, whose always() job still runs", async () => {
    const s = await start({ "gated.yml": gated }, { environments });
    s.push("alice", "f", { "a.txt": "a\n" });
    await s.as("alice").rest.pulls.create({ owner: "octo", repo: "lab", title: "f", head: "f", base: "main" });
    await s.settle();
    await s.review("bob", s.runs[0]!, "rejected", "no");
    await s.settle();
    expect(s.runs[0]!.result!.jobs.deploy!.result).toBe("failure");
    expect(s.runs[0]!.result!.jobs.after!.result).toBe("success");

    s.push("alice", "f", { "b.txt": "b\n" }); // synchronize: a new run
    await s.settle();
    s.push("alice", "f", { "c.txt": "c\n" }); // and another, while the second waits for review
    await s.settle();
    const [, second, third] = s.runs;
    expect(second!.conclusion).toBe("cancelled");
    expect(second!.result!.jobs.deploy!.result).toBe("cancelled");
    expect(second!.result!.jobs.after!.result).toBe("success");
    expect(third!.state).toBe("waiting");
  });

  it("refuses a job token what its permissions do not allow, as GitHub does", async () => {
    const readOnly = [
      "name: ro",
      "on: workflow_dispatch",
      "permissions: {}",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-latest",
      "    permissions: { contents: read }",
      "    steps:",
      "      - env: { TOKEN: '${{ github.token }}' }",
      "        run: |",
      "          curl -sS -o /dev/null -w '%{http_code}' -X POST -H \"authorization: Bearer $TOKEN\" -d " +
        '\'{"body":"x"}\' "$GITHUB_API_URL/repos/octo/lab/issues/1/comments"',
      "",
    ].join("\n");
    const s = await start({ "ro.yml": readOnly });
    await s.as("alice").rest.actions.createWorkflowDispatch({ owner: "octo", repo: "lab", workflow_id: "ro.yml", ref: "main" });
    await s.settle();
    expect(s.runs[0]!.result!.steps[0]!.run!.stdout).toBe("403");
  });
});
