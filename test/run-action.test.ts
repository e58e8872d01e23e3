// actions/run, bundled and run exactly as the runner runs it, against Docker with runsc.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { validateResultDocument, type RunResult } from "../actions/lib/src/index.js";
import { parseFileCommands, runAction } from "./support/action.js";
import { binDir, experimentYaml, makeExperiment, repoRoot } from "./support/repo.js";
import { interpretRunnerLog } from "./support/runner-log.js";

const entry = path.join(repoRoot, "actions/run/dist/index.js");
const docker = new Docker();
const githubEnv = {
  GITHUB_RUN_ID: "4242",
  GITHUB_RUN_ATTEMPT: "1",
  GITHUB_JOB: "evaluate",
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_REPOSITORY: "octo/crucible",
  RUNNER_NAME: "gvisor-runner-1",
};

async function runProgram(
  name: string,
  program: string,
  overrides: Parameters<typeof experimentYaml>[1] = {},
  inputs: Record<string, string> = {},
  env: Record<string, string> = {},
) {
  const file = await makeExperiment(name, { "experiment.yaml": experimentYaml(name, overrides), "main.py": program });
  const workspace = path.resolve(file, "../../..");
  const run = await runAction(entry, {
    inputs: { experiment: path.relative(workspace, file), ...inputs },
    env: { GITHUB_WORKSPACE: workspace, ...githubEnv, ...env },
  });
  const result: RunResult | undefined = run.outputs["result-path"]
    ? JSON.parse(await readFile(path.join(workspace, run.outputs["result-path"]), "utf8"))
    : undefined;
  const resultDir = run.outputs["result-path"] ? path.dirname(path.join(workspace, run.outputs["result-path"])) : "";
  return { ...run, result, resultDir, workspace, log: interpretRunnerLog(run.stdout) };
}

describe("actions/run: live logs", () => {
  it("runs hello-sandbox with grouped phases, outputs and a step summary", async () => {
    const workspace = await mkdtemp(path.join(os.tmpdir(), "crucible-ws-"));
    const run = await runAction(entry, {
      inputs: { experiment: "experiments/hello-sandbox/experiment.yaml", "results-dir": workspace },
      env: { GITHUB_WORKSPACE: repoRoot, ...githubEnv, GITHUB_TOKEN: "ghs_secretvalue123" },
    });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.status).toBe("succeeded");
    expect(JSON.parse(run.outputs.metrics!)).toEqual({ probes: 11, escapes_blocked: 5, steps: 5 });
    const result = JSON.parse(await readFile(path.join(repoRoot, run.outputs["result-path"]!), "utf8"));
    expect(validateResultDocument(result)).toBe(true);
    expect(result.provenance).toMatchObject({
      runner: "gvisor-runner-1",
      jobUrl: "https://github.com/octo/crucible/actions/runs/4242/attempts/1",
    });
    expect(result.usage.samples.length).toBeGreaterThanOrEqual(0);

    const { commands, plain } = interpretRunnerLog(run.stdout);
    expect(commands.filter((c) => c.name === "group").map((c) => c.data)).toEqual([
      "prepare image",
      "create sandbox",
      "run",
      "collect results",
    ]);
    expect(commands.filter((c) => c.name === "endgroup")).toHaveLength(4);
    expect(commands.find((c) => c.name === "add-mask")?.data).toBe("ghs_secretvalue123");
    expect(plain).toContainEqual(expect.stringMatching(/^\[\+\d+\.\d{3}s stdout\] hello from inside gVisor$/));
    expect(plain).toContainEqual(expect.stringMatching(/^\[\+\d+\.\d{3}s stdout\] progress 5\/5 \(100%\)$/));
    expect(run.summary).toContain("hello-sandbox: succeeded");
    expect(run.summary).toContain('<th align="left">escapes&#95;blocked</th><td>5</td>');
    expect(run.summary).toContain("Resource peaks");
    expect(run.summary).toContain("Latest progress");
    // stdout and stderr reach Docker through separate pipes, so "done" and the stderr line may come in either order.
    expect(run.summary).toMatch(/<pre>[^<]*&#93; done(\n[^<]*)?<\/pre>/);
  });

  it("never lets program output act as a workflow command, and hides runner secrets from the sandbox", async () => {
    const program = [
      "import os, sys",
      "print('::add-mask::hello')",
      "print('::set-output name=status::hacked')",
      "print('::error file=.github/workflows/evil.yml,line=1::pwned')",
      "print('::stop-commands::guessed')",
      "print('::guessed::')",
      "print('   ::group::indented fake group')",
      "print('##[set-output name=status;]legacy-hacked')",
      "sys.stdout.write('text\\r::warning::after carriage return\\n')",
      "print('\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07 \\x1b[31mred')",
      "print('env:', sorted(k for k in os.environ))",
      "print('token visible:', 'ghs_secretvalue123' in repr(os.environ))",
    ].join("\n");
    const run = await runProgram("injection", program, {}, {}, { GITHUB_TOKEN: "ghs_secretvalue123", ACTIONS_RUNTIME_TOKEN: "rt_secret" });
    expect(run.outputs.status).toBe("succeeded");
    const ours = new Set(["group", "endgroup", "stop-commands", "add-mask"]);
    // The one command not ours to group and mask: the action's own annotation that the program printed control
    // text, with counts only.
    expect(run.log.commands.filter((c) => !ours.has(c.name))).toEqual([
      expect.objectContaining({ name: "warning", properties: "title=behaviour%3A output-control (medium%2C injection)" }),
    ]);
    expect(run.log.commands.find((c) => c.name === "warning")!.data).not.toMatch(/hacked|evil|set-output/);
    expect(
      run.log.commands
        .filter((c) => c.name === "add-mask")
        .map((c) => c.data)
        .sort(),
    ).toEqual(["ghs_secretvalue123", "rt_secret"]);
    expect(run.log.commands.filter((c) => c.name === "stop-commands").every((c) => /^[0-9a-f]{32}$/.test(c.data))).toBe(true);
    const text = run.log.plain.join("\n");
    expect(text).toContain("::set-output name=status::hacked");
    expect(text).toContain("##\\[set-output name=status;]legacy-hacked");
    expect(text).toMatch(/stdout\] ::warning::after carriage return$/m);
    expect(text).toContain("\\x1b]8;;http://evil\\x07link");
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(text).not.toMatch(/\x1b/);
    expect(text).toContain("token visible: False");
    expect(text).not.toMatch(/GITHUB_TOKEN|ACTIONS_RUNTIME_TOKEN/);
    expect(run.outputs.status).not.toBe("hacked");
  });

  it("loses no line: the last line without a newline, a 100 KiB line, invalid UTF-8 and a 100k-line burst", async () => {
    const program = [
      "import sys",
      "print('x' * 100_000)",
      "sys.stdout.flush()",
      "sys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n')",
      "for i in range(100_000): print(i)",
      "sys.stdout.write('the end without newline')",
    ].join("\n");
    const run = await runProgram("burst", program);
    expect(run.outputs.status).toBe("succeeded");
    expect(run.result!.log.lines).toBe(2 + 1 + 100_000 + 1);
    const saved = (await readFile(path.join(run.resultDir, "log.txt"), "utf8")).split("\n").filter(Boolean);
    const texts = saved.map((l) => l.replace(/^\[\+\d+\.\d{3}s stdout\] /, ""));
    expect(texts[0]! + texts[1]!).toBe("x".repeat(100_000));
    expect(texts[2]).toBe("bad \\xff\\xfe bytes");
    expect(texts.slice(3, 100_003)).toEqual(Array.from({ length: 100_000 }, (_, i) => String(i)));
    expect(texts.at(-1)).toBe("the end without newline");
    expect(run.log.plain.filter((l) => /^\[\+\d+\.\d{3}s stdout\] \d+$/.test(l))).toHaveLength(100_000);
    expect(run.stdout).toContain("the end without newline");
  });

  it("bounds a flood of output in the job log and in the saved log, and the run goes on", async () => {
    const program =
      "import sys\nline = b'y' * 1023 + b'\\n'\nfor _ in range(48 * 1024): sys.stdout.buffer.write(line)\nprint('still alive')\n";
    const run = await runProgram("flood", program, { extra: "outputs:\n  maxBytes: 1Mi" }, { "log-limit": "1Mi" });
    expect(run.outputs.status).toBe("succeeded");
    expect(run.stdout.match(/program output reached this log's cap of 1\.0 MiB/g)).toHaveLength(1);
    expect(run.stdout).toMatch(/\[crucible\] \d+ lines were not shown in this log/);
    expect(run.stdout.length).toBeLessThan(2 * 1024 * 1024);
    expect(run.result!.log.lines).toBe(48 * 1024 + 1);
    expect(run.result!.log.truncated).toBe(true);
    expect((await stat(path.join(run.resultDir, "log.txt"))).size).toBeLessThan(16 * 1024 * 1024 + 1024);
    expect(run.result!.log.tail.at(-1)).toMatch(/still alive$/);
  });
});

describe("actions/run: every way a run ends", () => {
  it("failed: a non-zero exit", async () => {
    const run = await runProgram("exit-three", "import sys\nprint('bye')\nsys.exit(3)\n");
    expect(run.code).toBe(1);
    expect(run.outputs.status).toBe("failed");
    expect(run.result).toMatchObject({ status: "failed", exitCode: 3 });
    expect(run.log.commands.find((c) => c.name === "error")?.data).toBe("exit-three: failed: The program exited with code 3.");
  });

  it("timed-out: killed at the wall-clock limit", async () => {
    const run = await runProgram("too-slow", "import time\nprint('working', flush=True)\ntime.sleep(300)\n", {
      resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 3s",
    });
    expect(run.outputs.status).toBe("timed-out");
    expect(run.result!.statusReason).toContain("time limit of 3s");
    expect(run.result!.log.tail.at(-1), run.stdout).toMatch(/working$/);
  });

  it("oom-killed: past the memory limit", async () => {
    const run = await runProgram("memory-bomb", "x = []\nprint('allocating', flush=True)\nwhile True: x.append(bytearray(10**6))\n", {
      resources: "  cpus: 1\n  memory: 64Mi\n  timeout: 60s",
    });
    expect(run.outputs.status).toBe("oom-killed");
    expect(run.result!.statusReason).toContain("memory limit");
    expect(run.result!.log.tail.at(-1)).toMatch(/allocating$/);
  });

  it("sandbox-error: the runtime cannot start the sandbox", async () => {
    const run = await runProgram("too-small", "print('never')\n", { resources: "  cpus: 1\n  memory: 10Mi\n  timeout: 60s" });
    expect(run.outputs.status).toBe("sandbox-error");
    expect(run.result!.statusReason).toMatch(/runtime runsc(-monitored-\d+)? failed to start the sandbox.*too small for gVisor itself/);
    expect(run.result!.exitCode).toBeNull();
  });

  it("rejected: asks for more than the policy allows", async () => {
    const run = await runProgram("greedy", "print('never')\n", { resources: "  cpus: 1\n  memory: 64Gi\n  timeout: 60s" });
    expect(run.outputs.status).toBe("rejected");
    expect(run.result!.statusReason).toMatch(/resources\.memory 64 GiB exceeds the runner's limit of 8\.0 GiB/);
    expect(run.stdout).not.toContain("::group::run");
  });

  it("invalid experiment: annotated, nothing run, nothing written", async () => {
    const file = await makeExperiment("broken", {
      "experiment.yaml": experimentYaml("broken", { command: "python3 main.py" }),
      "main.py": "",
    });
    const workspace = path.resolve(file, "../../..");
    const run = await runAction(entry, {
      inputs: { experiment: "experiments/broken/experiment.yaml" },
      env: { GITHUB_WORKSPACE: workspace },
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("::error file=experiments/broken/experiment.yaml,line=5,col=10::command must be an argv array");
    expect(existsSync(path.join(path.dirname(file), "results"))).toBe(false);
  });

  it("cancelled: SIGINT mid-run stops the sandbox in the runner's window, keeps partial logs, and the post step cleans up", async () => {
    const file = await makeExperiment("long-job", {
      "experiment.yaml": experimentYaml("long-job"),
      "main.py": "import time\nfor i in range(600):\n    print(f'step {i}', flush=True)\n    time.sleep(0.1)\n",
    });
    const workspace = path.resolve(file, "../../..");
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-cancel-"));
    const files = Object.fromEntries(["output", "summary", "state"].map((n) => [n, path.join(dir, n)]));
    for (const f of Object.values(files)) await writeFile(f, "");
    const env = {
      PATH: `${binDir}:${process.env.PATH}`,
      GITHUB_WORKSPACE: workspace,
      GITHUB_OUTPUT: files.output!,
      GITHUB_STEP_SUMMARY: files.summary!,
      GITHUB_STATE: files.state!,
      INPUT_EXPERIMENT: "experiments/long-job/experiment.yaml",
      "INPUT_LOG-LIMIT": "8Mi",
      ...githubEnv,
      GITHUB_RUN_ID: "777",
    };
    const child = spawn(path.join(binDir, "node"), [entry], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const sawSteps = new Promise<void>((resolve) =>
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        if (/step 5$/m.test(stdout)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await sawSteps;
    const sentAt = Date.now();
    child.kill("SIGINT");
    const code = await exited;
    expect(Date.now() - sentAt).toBeLessThan(7_500);
    expect(code).toBe(1);

    const outputs = parseFileCommands(await readFile(files.output!, "utf8"));
    expect(outputs.status).toBe("cancelled");
    const result: RunResult = JSON.parse(await readFile(path.join(workspace, outputs["result-path"]!), "utf8"));
    expect(result.status).toBe("cancelled");
    expect(result.log.lines).toBeGreaterThanOrEqual(6);
    expect(await readFile(path.join(workspace, path.dirname(outputs["result-path"]!), "log.txt"), "utf8")).toContain("step 5");
    expect(await docker.listContainers({ all: true, filters: { label: [`crucible.run-id=${result.runId}`] } })).toEqual([]);

    // A sandbox of this job that survived (as after a runner crash) is removed by the post step.
    const state = parseFileCommands(await readFile(files.state!, "utf8"));
    expect(state.isPost).toBe("true");
    const leaked = await docker.createContainer({
      Image: result.image.id,
      Cmd: ["sleep", "600"],
      Labels: { "crucible.managed": "true", [state.jobLabel!.split("=")[0]!]: state.jobLabel!.split("=")[1]! },
      HostConfig: { Runtime: "runsc", NetworkMode: "none" },
    });
    await leaked.start();
    const postEnv = {
      PATH: env.PATH,
      GITHUB_WORKSPACE: workspace,
      ...Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v])),
    };
    const post = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(path.join(binDir, "node"), [entry], { env: postEnv, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      p.stdout.on("data", (c: Buffer) => (out += c.toString()));
      p.on("close", (c) => resolve({ code: c, out }));
    });
    expect(post.code).toBe(0);
    expect(post.out).toContain(`removed sandbox ${leaked.id.slice(0, 12)}`);
    await expect(leaked.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe("actions/run: hostile output folder", () => {
  it("refuses links, caps file count and size, and never reads a 2 GB sparse file", async () => {
    const program = [
      "import os",
      "out = os.environ['CRUCIBLE_OUTPUT']",
      "os.symlink('/etc', out + '/etc-link')",
      "os.symlink('/var/run/docker.sock', out + '/docker.sock')",
      "with open(out + '/big-sparse.bin', 'wb') as f: f.truncate(2 * 1024**3)",
      "os.mkdir(out + '/many')",
      "for i in range(10_000):",
      "    with open(f'{out}/many/{i:05d}.txt', 'w') as f: f.write('x')",
      "print('written')",
    ].join("\n");
    const run = await runProgram("hostile-output", program, {
      resources: "  cpus: 1\n  memory: 512Mi\n  timeout: 300s",
      extra: "outputs:\n  maxFiles: 500\n  maxBytes: 1Mi",
    });
    expect(run.outputs.status).toBe("succeeded");
    const result = run.result!;
    expect(result.artifacts).toHaveLength(500);
    const reasons = Object.fromEntries(result.dropped.map((d) => [d.path, d.reason]));
    expect(reasons["etc-link"]).toBe("symbolic link (never followed)");
    expect(reasons["docker.sock"]).toBe("symbolic link (never followed)");
    expect(reasons["big-sparse.bin"]).toMatch(/2147483648 bytes would exceed the output cap/);
    expect(reasons["*"]).toBe("9500 more files beyond the cap of 500 files were not collected");
    const collected = await readdir(path.join(run.resultDir, "output"), { recursive: true });
    expect(collected).not.toContain("big-sparse.bin");
    expect(collected).not.toContain("etc-link");
    expect(existsSync(path.join(os.tmpdir(), "crucible", result.runId))).toBe(false);
  });
});

describe("actions/run in the evaluate workflow: the approval is checked just before the sandbox starts", () => {
  it("refuses a run approved only by the person who asked for it, and one whose pull request moved", async () => {
    const { FakeGitHub } = await import("./support/fake-github.js");
    const fake = await FakeGitHub.start({ owner: "octo", repo: "crucible", branches: { main: { "README.md": "x\n" } } });
    try {
      const head = fake.push("feature", { "a.txt": "a\n" }, "feature", fake.person("researcher"), "heads/feature");
      fake.openPullRequest({ title: "t", head: "feature", by: fake.person("researcher") });
      const environment = fake.addEnvironment("evaluation", {
        reviewers: ["maintainer", "reviewer"],
        preventSelfReview: true,
        branches: ["main"],
      });
      const reviews: { user: string; state: "approved" | "rejected"; comment: string; environments: string[]; at: string }[] = [];
      fake.runs.set(4242, {
        id: 4242,
        attempt: 1,
        name: "Evaluate",
        path: ".github/workflows/evaluate.yml",
        event: "workflow_dispatch",
        headBranch: "main",
        headSha: head,
        actor: "github-actions[bot]",
        status: "in_progress",
        conclusion: null,
        createdAt: new Date().toISOString(),
        pullRequests: [],
        jobs: [
          {
            id: 77,
            name: "evaluate (experiments/x)",
            status: "in_progress",
            conclusion: null,
            runnerName: "gvisor-runner-1",
            labels: ["self-hosted"],
            startedAt: new Date().toISOString(),
            completedAt: null,
          },
        ],
        pending: [],
        reviews,
        cancel: () => {},
      });
      const token = fake.jobToken(4242, { contents: "read", "pull-requests": "read", actions: "read" });
      const evaluate = (name: string, sha = head) =>
        runProgram(
          name,
          "print('should not run')\n",
          {},
          { "pull-request": "1", "head-sha": sha, token, "require-approval": "true", "excluded-approvers": "researcher,maintainer" },
          { GITHUB_API_URL: fake.url },
        );

      reviews.push({ user: "maintainer", state: "approved", comment: "", environments: [environment.name], at: new Date().toISOString() });
      const self = await evaluate("self-approved");
      expect(self.result).toMatchObject({
        status: "rejected",
        statusReason: "approved only by maintainer, who wrote or requested it; someone else must approve; nothing ran",
      });
      expect(self.result!.provenance).toMatchObject({
        gitCommit: head,
        pullRequest: 1,
        jobUrl: "https://github.com/octo/crucible/actions/runs/4242/job/77",
        approvals: [{ reviewer: "maintainer", state: "approved" }],
      });
      expect(self.stdout).not.toContain("should not run");

      reviews.push({
        user: "reviewer",
        state: "approved",
        comment: "fine",
        environments: [environment.name],
        at: new Date().toISOString(),
      });
      const moved = fake.push("feature", { "b.txt": "b\n" }, "later", fake.person("researcher"), "heads/feature");
      const stale = await evaluate("stale-approval", head);
      expect(stale.result).toMatchObject({
        status: "superseded",
        statusReason: expect.stringContaining(`moved to ${moved} after ${head} was approved`),
      });
      expect(stale.code).toBe(0);

      const ok = await evaluate("approved", moved);
      expect(ok.result).toMatchObject({ status: "succeeded", provenance: { gitCommit: moved } });
      expect(ok.stdout).toContain("should not run");
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
