// Writes N synthetic, schema-valid run results into <dir>/experiments/<name>/results/<runId>/result.json
// (with each experiment's experiment.yaml), for the site's scale benchmark. Deterministic for a given N
// and seed, so two benchmark runs build the same site.
//
//   node site/scripts/generate-results.mjs <outDir> [count] [seed]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const statuses = [
  ["succeeded", 0.7, 0, "The program exited with code 0."],
  ["failed", 0.12, 1, "The program exited with code 1."],
  ["timed-out", 0.06, null, "Killed at the wall-clock limit of 600 s."],
  ["oom-killed", 0.04, null, "Killed at the memory limit of 2 GiB."],
  ["cancelled", 0.03, null, "Cancelled by the workflow."],
  ["sandbox-error", 0.03, null, "runsc exited before the program started."],
  ["rejected", 0.02, null, "The policy refused the run: memory above the runner's ceiling."],
];

/** Experiment families: each has its own metric names, so the site sees varied tables. */
const families = [
  ["probe", ["auroc", "tpr_at_1pct_fpr", "accuracy", "f1", "layer"]],
  ["backdoor", ["persistence_pct", "activation_with_trigger", "activation_without_trigger", "asr"]],
  ["escape", ["probes", "escapes_blocked", "syscalls_denied"]],
  ["eval", ["score", "refusal_rate", "tokens", "latency_ms", "cost_usd", "pass_at_1", "pass_at_10", "samples"]],
];

/** mulberry32: small, seedable, good enough for synthetic data. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand, length) => Array.from({ length }, () => Math.floor(rand() * 16).toString(16)).join("");
const round = (value, digits = 4) => Number(value.toFixed(digits));

function pickStatus(rand) {
  let r = rand();
  for (const status of statuses) {
    if ((r -= status[1]) < 0) return status;
  }
  return statuses[0];
}

/** One experiment per ~25 runs (at least 4), so a 1,000-run site has ~40 experiment pages. */
export function experimentNames(count) {
  const experiments = Math.max(4, Math.ceil(count / 25));
  return Array.from({ length: experiments }, (_, i) => `${families[i % families.length][0]}-${String(i).padStart(4, "0")}`);
}

export function syntheticResult(index, count, seed = 1) {
  const rand = random(seed * 1_000_003 + index);
  const names = experimentNames(count);
  const name = names[index % names.length];
  const family = families[names.indexOf(name) % families.length];
  const [status, , exitCode, reason] = pickStatus(rand);
  // Start times spread over 60 days before a fixed date, one run per index so runIds never collide.
  const started = new Date(Date.UTC(2026, 10, 22) - (count - index) * 60_000 * Math.max(1, Math.floor(86_400 / count)));
  const duration = round(status === "timed-out" ? 600 : status === "rejected" ? 0 : 1 + rand() * 400, 2);
  const finished = new Date(started.getTime() + duration * 1000);
  const runId = `${started.toISOString().replace(/[-:]/g, "").slice(0, 15)}Z-${index.toString(16).padStart(6, "0").slice(-6)}`;
  const ran = status !== "rejected" && status !== "sandbox-error";
  const metrics = {};
  if (ran && status !== "oom-killed") {
    for (const metric of family[1])
      metrics[metric] = metric === "layer" || metric === "tokens" || metric === "samples" ? Math.floor(rand() * 5000) : round(rand());
  }
  const samples = [];
  let peakCpu = 0;
  let peakMem = 0;
  if (ran) {
    const n = Math.min(120, Math.max(2, Math.floor(duration)));
    for (let i = 0; i < n; i++) {
      const cpuPercent = round(rand() * 100, 2);
      const memoryBytes = Math.floor((32 + rand() * 480) * 1024 * 1024);
      peakCpu = Math.max(peakCpu, cpuPercent);
      peakMem = Math.max(peakMem, memoryBytes);
      samples.push({ t: round((i * duration) / n, 2), cpuPercent, memoryBytes });
    }
  }
  const recipe = hex(rand, 12);
  const result = {
    schemaVersion: 1,
    runId,
    experiment: {
      name,
      path: `experiments/${name}/experiment.yaml`,
      contentHash: `sha256:${hex(rand, 64)}`,
      description: `Synthetic ${family[0]} experiment for the site benchmark.`,
    },
    status,
    statusReason: reason,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: duration,
    exitCode,
    runtime: { name: "runsc", version: "0.0~20221219.0" },
    image: { name: "base", ref: `crucible/base:${recipe}`, id: `sha256:${hex(rand, 64)}`, recipeHash: recipe },
    metrics,
    artifacts:
      Object.keys(metrics).length > 0 ? [{ path: "metrics.json", size: 20 + Object.keys(metrics).length * 24, sha256: hex(rand, 64) }] : [],
    dropped: [],
    log: {
      path: "log.txt",
      lines: Math.floor(rand() * 5000),
      bytes: Math.floor(rand() * 400_000),
      truncated: rand() < 0.05,
      tail: Array.from({ length: 5 }, (_, i) => `step ${i + 1} of 5 loss=${round(rand(), 3)}`),
    },
    resources: { cpus: 1 + Math.floor(rand() * 4), memoryBytes: 2 * 1024 ** 3, timeoutSeconds: 600, gpus: 0 },
    policy: {},
    provenance: {
      gitCommit: hex(rand, 40),
      runner: `runner-${Math.floor(rand() * 8)}`,
      jobUrl: `https://github.com/example/crucible/actions/runs/${1000 + index}/job/${2000 + index}`,
      containerId: ran ? hex(rand, 64) : null,
    },
  };
  if (ran) result.usage = { samples, peak: { cpuPercent: peakCpu, memoryBytes: peakMem } };
  return result;
}

/** Writes count results under <outDir>/experiments; returns that folder. */
export async function generateResults(outDir, count, seed = 1) {
  const experimentsDir = join(outDir, "experiments");
  for (const name of experimentNames(count)) {
    await mkdir(join(experimentsDir, name, "results"), { recursive: true });
    await writeFile(
      join(experimentsDir, name, "experiment.yaml"),
      `apiVersion: crucible/v1\nname: ${name}\ndescription: Synthetic experiment for the site benchmark.\nimage: base\n` +
        `command: [python3, main.py]\ninputs: [main.py]\nresources: { cpus: 1, memory: 2Gi, timeout: 600s, gpus: 0 }\n` +
        `network: none\nparams: { seed: ${seed} }\n`,
    );
  }
  for (let index = 0; index < count; index++) {
    const result = syntheticResult(index, count, seed);
    const runDir = join(experimentsDir, result.experiment.name, "results", result.runId);
    await mkdir(runDir, { recursive: true });
    await writeFile(join(runDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  }
  return experimentsDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [outDir, count = "1000", seed = "1"] = process.argv.slice(2);
  if (!outDir) {
    console.error("usage: node site/scripts/generate-results.mjs <outDir> [count] [seed]");
    process.exit(2);
  }
  const dir = await generateResults(outDir, Number(count), Number(seed));
  console.log(`${count} results in ${dir}`);
}
