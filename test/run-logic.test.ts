// The run logic without Docker: statuses, stages and skips, artifacts, metric merging, relay limits and
// summaries, over the in-process fake provider (test/support/fake-sandbox.ts). The same run code drives
// runsc in sandbox.test.ts, stages.test.ts and run-action.test.ts; those prove the sandbox itself.
import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  loadExperiment,
  loadPolicy,
  runExperiment,
  validateResultDocument,
  type RunOptions,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { renderSummary } from "../actions/run/src/summary.js";
import { FakeSandboxProvider, sleep, type FakeProgram } from "./support/fake-sandbox.js";
import { imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

let policy: SandboxPolicy;
beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
});

const header = (name: string) => [
  "apiVersion: crucible/v1",
  `name: ${name}`,
  "description: run logic test",
  "image: base",
  "inputs: [prog.py]",
  "resources: {cpus: 1, memory: 256Mi, timeout: 60s}",
];

async function run(
  yamlLines: string[],
  programs: Record<string, FakeProgram>,
  options: Partial<RunOptions> = {},
): Promise<{ result: Awaited<ReturnType<typeof runExperiment>>["result"]; dir: string; provider: FakeSandboxProvider }> {
  const name = yamlLines.find((l) => l.startsWith("name: "))!.slice(6);
  const file = await makeExperiment(name, { "experiment.yaml": [...yamlLines, ""].join("\n"), "prog.py": "" });
  const experiment = await loadExperiment(file, { imagesDir });
  const provider = new FakeSandboxProvider(programs);
  const store = await mkdtemp(path.join(os.tmpdir(), "crucible-store-"));
  const outcome = await runExperiment({
    experiment,
    policy: options.policy ?? policy,
    provider,
    repoRoot: path.resolve(file, "../../.."),
    artifactStore: store,
    provenance: { gitCommit: null },
    ...options,
  });
  expect(validateResultDocument(outcome.result), JSON.stringify(validateResultDocument.errors)).toBe(true);
  expect(JSON.parse(await readFile(outcome.resultFile, "utf8"))).toEqual(outcome.result);
  expect(provider.live).toBe(0);
  return { result: outcome.result, dir: outcome.resultDir, provider };
}

const single = (name: string, extra: string[] = []) => [...header(name), "command: [main]", ...extra];

describe("statuses of a single-program run", () => {
  it("succeeded: metrics with units, series, log and output files are recorded", async () => {
    const { result, dir } = await run(single("ok", ["outputs: {files: [metrics.json, series.json, notes.txt]}"]), {
      main: async (io) => {
        io.stdout("hello\nworld\n");
        await io.output("metrics.json", JSON.stringify({ accuracy: 0.9, loss: { value: 1.5, unit: "nats", description: "final loss" } }));
        await io.output(
          "series.json",
          JSON.stringify({
            curve: {
              kind: "line",
              columns: ["x", "y"],
              rows: [
                [0, 1],
                [1, 2],
              ],
              x: "x",
              y: "y",
            },
          }),
        );
        await io.output("notes.txt", "n");
        return 0;
      },
    });
    expect(result).toMatchObject({ status: "succeeded", exitCode: 0, metrics: { accuracy: 0.9, loss: 1.5 } });
    expect(result.metricInfo).toEqual({ loss: { unit: "nats", description: "final loss" } });
    expect(Object.keys(result.series ?? {})).toEqual(["curve"]);
    expect(result.artifacts.map((a) => a.path).sort()).toEqual(["output/metrics.json", "output/notes.txt", "output/series.json"]);
    expect(result.log).toMatchObject({ path: "log.txt", lines: 2, truncated: false });
    expect(result.log.tail.map((l) => l.replace(/^\[\+[\d.]+s stdout\] /, ""))).toEqual(["hello", "world"]);
    expect(await readFile(path.join(dir, "log.txt"), "utf8")).toContain("world");
  });

  it("failed, oom-killed, sandbox-error and timed-out each end as such, with the exit code only for an exit", async () => {
    const failed = await run(single("exit-3"), { main: async () => 3 });
    expect(failed.result).toMatchObject({ status: "failed", exitCode: 3 });
    const oom = await run(single("oom"), { main: async () => "oom-killed" });
    expect(oom.result).toMatchObject({ status: "oom-killed", exitCode: null });
    const broken = await run(single("broken"), {});
    expect(broken.result.status).toBe("sandbox-error");
    expect(broken.result.statusReason).toContain("no program main");
    const slow = await run([...header("slow").slice(0, -1), "resources: {cpus: 1, memory: 256Mi, timeout: 1s}", "command: [main]"], {
      main: async (io) => {
        io.stdout("started\n");
        await sleep(30_000, io.signal);
        return 0;
      },
    });
    expect(slow.result).toMatchObject({ status: "timed-out", exitCode: null });
    expect(slow.result.log.tail).toEqual([expect.stringMatching(/stdout\] started$/)]);
  });

  it("cancelled: aborting mid-run records the partial log", async () => {
    const cancel = new AbortController();
    const { result } = await run(
      single("cancel"),
      {
        main: async (io) => {
          io.stdout("step 1\n");
          setTimeout(() => cancel.abort(), 10);
          await sleep(30_000, io.signal);
          return 0;
        },
      },
      { signal: cancel.signal },
    );
    expect(result).toMatchObject({ status: "cancelled", exitCode: null });
    expect(result.log.tail).toEqual([expect.stringMatching(/stdout\] step 1$/)]);
  });

  it("rejected by the policy, or refused before start: recorded, and no sandbox is created", async () => {
    const small = { ...policy, limits: { ...policy.limits, maxCpus: 0.5 } };
    const rejected = await run(single("too-big"), { main: async () => 0 }, { policy: small });
    expect(rejected.result.status).toBe("rejected");
    expect(rejected.result.statusReason).toContain("cpus 1 exceeds the runner's limit of 0.5");
    expect(rejected.provider.calls).toEqual([]);
    const moved = await run(
      single("moved"),
      { main: async () => 0 },
      { beforeStart: async () => ({ status: "superseded", reason: "the PR moved" }) },
    );
    expect(moved.result).toMatchObject({ status: "superseded", statusReason: "the PR moved" });
    expect(moved.provider.calls).toEqual([]);
  });

  it("drops metrics that break the rules, with the reason, and keeps the rest", async () => {
    const { result } = await run(single("bad-metrics", ["outputs: {files: [metrics.json]}"]), {
      main: async (io) => {
        await io.output("metrics.json", '{"good": 1, "1bad": 2, "text": "x", "huge": 1e999}');
        return 0;
      },
    });
    expect(result.metrics).toEqual({ good: 1 });
    expect(result.dropped.map((d) => d.path).sort()).toEqual(["metrics.json#1bad", "metrics.json#huge", "metrics.json#text"]);
  });

  it("keeps a log within the policy's byte limit and says it was truncated", async () => {
    const tight = { ...policy, logMaxBytes: 1000 };
    const { result, dir } = await run(
      single("chatty"),
      {
        main: async (io) => {
          for (let i = 0; i < 200; i++) io.stdout(`line ${i} ${"x".repeat(40)}\n`);
          return 0;
        },
      },
      { policy: tight },
    );
    expect(result.status).toBe("succeeded");
    expect(result.log.truncated).toBe(true);
    expect((await readFile(path.join(dir, "log.txt"))).length).toBeLessThanOrEqual(1100);
  });
});

describe("stages", () => {
  const staged = (name: string, stages: string[]) => [...header(name), "stages:", ...stages];

  it("passes artifacts by hash, keeps them out of the results, and merges metrics reported by two stages", async () => {
    const { result, dir, provider } = await run(
      staged("pipeline", [
        "  train:",
        "    command: [train]",
        "    artifacts: [model.bin]",
        "  evaluate:",
        "    needs: [train]",
        "    command: [evaluate]",
      ]),
      {
        train: async (io) => {
          await io.output("model.bin", "weights");
          await io.output("metrics.json", '{"accuracy": 0.5, "steps": 10}');
          return 0;
        },
        evaluate: async (io) => {
          expect(await readFile(io.artifacts["train/model.bin"]!, "utf8")).toBe("weights");
          expect(io.env.CRUCIBLE_STAGE).toBe("evaluate");
          await io.output("metrics.json", '{"accuracy": 0.75}');
          return 0;
        },
      },
    );
    expect(result.status).toBe("succeeded");
    expect(result.statusReason).toBe("all 2 stages succeeded");
    expect(result.metrics).toEqual({ "train.accuracy": 0.5, steps: 10, "evaluate.accuracy": 0.75 });
    expect(result.metricInfo?.steps).toEqual({ stage: "train" });
    expect(result.storedArtifacts).toMatchObject([{ stage: "train", path: "model.bin", size: 7 }]);
    expect(result.stages![1]!.consumed).toMatchObject([{ stage: "train", path: "model.bin" }]);
    expect(existsSync(path.join(dir, "stages/train/output/model.bin"))).toBe(false);
    expect(provider.calls.map((c) => c.spec.name)).toEqual([`${result.runId}-train`, `${result.runId}-evaluate`]);
  });

  it("skips the dependents of a failed stage with the reason, runs independent stages, and takes the first failure's status", async () => {
    const { result } = await run(
      staged("partial", [
        "  train:",
        "    command: [train]",
        "  evaluate:",
        "    needs: [train]",
        "    command: [evaluate]",
        "  lint:",
        "    command: [lint]",
      ]),
      { train: async () => 2, evaluate: async () => 0, lint: async () => 0 },
    );
    expect(result.stages!.map((s) => [s.name, s.status])).toEqual([
      ["train", "failed"],
      ["evaluate", "skipped"],
      ["lint", "succeeded"],
    ]);
    expect(result.stages![1]!.statusReason).toBe("needs stage train, which ended failed: The program exited with code 2.");
    expect(result).toMatchObject({ status: "failed", exitCode: 2 });
    expect(result.statusReason).toBe("stage train ended failed: The program exited with code 2; skipped: evaluate");
  });

  it("fails a stage that does not write its declared artifact, so its dependents cannot run", async () => {
    const { result } = await run(
      staged("missing", [
        "  train:",
        "    command: [train]",
        "    artifacts: [model.bin]",
        "  evaluate:",
        "    needs: [train]",
        "    command: [evaluate]",
      ]),
      { train: async () => 0, evaluate: async () => 0 },
    );
    expect(result.stages!.map((s) => s.status)).toEqual(["failed", "skipped"]);
    expect(result.stages![0]!.statusReason).toContain("did not write the declared artifact(s) model.bin");
  });

  it("after a cancellation starts nothing else, and the summary shows every stage with its icon", async () => {
    const cancel = new AbortController();
    const { result } = await run(
      staged("stopped", ["  first:", "    command: [first]", "  second:", "    command: [second]"]),
      {
        first: async (io) => {
          setTimeout(() => cancel.abort(), 10);
          await sleep(30_000, io.signal);
          return 0;
        },
        second: async () => 0,
      },
      { signal: cancel.signal },
    );
    expect(result.stages!.map((s) => s.status)).toEqual(["cancelled", "skipped"]);
    expect(result.stages![1]!.statusReason).toBe("the run was cancelled before this stage started");
    expect(result.status).toBe("cancelled");
    const summary = renderSummary(result, "experiments/stopped/results/x/result.json");
    expect(summary).toContain("🚫 stopped: cancelled");
    expect(summary).toMatch(/<td>first<\/td><td>🚫 cancelled<\/td>/);
    expect(summary).toMatch(/<td>second<\/td><td>⏭️ skipped<\/td>/);
  });
});
