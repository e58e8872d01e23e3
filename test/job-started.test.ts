// runner-setup/job-started.sh, the runner's ACTIONS_RUNNER_HOOK_JOB_STARTED script, run as the runner
// runs it: with the job's GITHUB_* variables and its event file. Only evaluate.yml's evaluate job on the
// default branch gets past it.
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { binDir, repoRoot } from "./support/repo.js";

const hook = path.join(repoRoot, "runner-setup/job-started.sh");

async function runHook(
  vars: Record<string, string | undefined>,
  event: unknown = { repository: { full_name: "octo/lab", default_branch: "main" } },
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-hook-"));
  const eventPath = path.join(dir, "event.json");
  await writeFile(eventPath, JSON.stringify(event));
  const env: Record<string, string> = { PATH: process.env.PATH!, CRUCIBLE_NODE: path.join(binDir, "node"), GITHUB_EVENT_PATH: eventPath };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  try {
    const { stdout } = await promisify(execFile)("sh", [hook], { env });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

const EVALUATE = {
  GITHUB_REPOSITORY: "octo/lab",
  GITHUB_WORKFLOW_REF: "octo/lab/.github/workflows/evaluate.yml@refs/heads/main",
  GITHUB_JOB: "evaluate",
  GITHUB_EVENT_NAME: "pull_request_target",
  GITHUB_REF: "refs/heads/main",
};

describe("job-started hook", () => {
  it("accepts the evaluate job of evaluate.yml on the default branch, for pull_request_target and workflow_dispatch", async () => {
    expect(await runHook(EVALUATE)).toEqual({
      code: 0,
      stdout: "crucible runner: accepted octo/lab/.github/workflows/evaluate.yml@refs/heads/main job evaluate (pull_request_target)\n",
    });
    expect((await runHook({ ...EVALUATE, GITHUB_EVENT_NAME: "workflow_dispatch" })).code).toBe(0);
    // The default branch is whatever the repository's is, not "main" by convention.
    const trunk = {
      ...EVALUATE,
      GITHUB_WORKFLOW_REF: "octo/lab/.github/workflows/evaluate.yml@refs/heads/trunk",
      GITHUB_REF: "refs/heads/trunk",
    };
    expect((await runHook(trunk, { repository: { default_branch: "trunk" } })).code).toBe(0);
  });

  it.each([
    [
      "another workflow",
      { GITHUB_WORKFLOW_REF: "octo/lab/.github/workflows/mine.yml@refs/heads/main" },
      "only octo/lab/.github/workflows/evaluate.yml@refs/heads/main may run here, not octo/lab/.github/workflows/mine.yml@refs/heads/main",
    ],
    [
      "evaluate.yml from a pull request's branch",
      {
        GITHUB_WORKFLOW_REF: "octo/lab/.github/workflows/evaluate.yml@refs/pull/7/merge",
        GITHUB_REF: "refs/pull/7/merge",
        GITHUB_EVENT_NAME: "pull_request",
      },
      "not octo/lab/.github/workflows/evaluate.yml@refs/pull/7/merge",
    ],
    [
      "evaluate.yml dispatched on another branch",
      {
        GITHUB_WORKFLOW_REF: "octo/lab/.github/workflows/evaluate.yml@refs/heads/feature",
        GITHUB_REF: "refs/heads/feature",
        GITHUB_EVENT_NAME: "workflow_dispatch",
      },
      "not octo/lab/.github/workflows/evaluate.yml@refs/heads/feature",
    ],
    ["another job of evaluate.yml", { GITHUB_JOB: "record" }, "only the evaluate job may run here, not record"],
    ["another event", { GITHUB_EVENT_NAME: "push" }, "only pull_request_target and workflow_dispatch events may run here, not push"],
    [
      "another repository's evaluate.yml",
      { GITHUB_WORKFLOW_REF: "evil/fork/.github/workflows/evaluate.yml@refs/heads/main" },
      "not evil/fork/.github/workflows/evaluate.yml@refs/heads/main",
    ],
    ["a job the runner did not describe", { GITHUB_JOB: undefined }, "the runner did not say which job this is (GITHUB_JOB unset)"],
  ])("refuses %s, saying why", async (_name, change, reason) => {
    const run = await runHook({ ...EVALUATE, ...change });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error title=Job refused by this runner::/);
    expect(run.stdout).toContain(reason);
    expect(run.stdout).toContain("This runner takes only .github/workflows/evaluate.yml's evaluate job on the default branch.");
  });

  it("refuses when the event names no default branch, and escapes what it quotes", async () => {
    expect((await runHook(EVALUATE, {})).stdout).toContain("the job's event names no default branch of the repository");
    const run = await runHook({ ...EVALUATE, GITHUB_JOB: "x\n::warning::injected" });
    expect(run.code).toBe(1);
    expect(run.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    expect(run.stdout).toContain("not x\\n::warning::injected");
  });
});
