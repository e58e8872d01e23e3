// The overload benchmark: 1, 4, 16 and 32 trivial runs started at once on this host, each its own
// `crucible run` process (as separate runner processes would start them), all sharing the host's
// sandbox slots (policy limits.maxConcurrentSandboxes). Per level: runs per minute, p95 wall time of a
// run (including its wait for a slot), peak host memory in use, failures, and leftovers (sandboxes,
// slot locks or scratch folders still there afterwards). Writes actions/run/concurrency-benchmark.json.
// Usage: node actions/scripts/concurrency-bench.mjs [LEVEL...]
import { spawn } from "node:child_process";
import { mkdtemp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const cli = path.join(root, "actions", "cli", "bin", "crucible.js");
const levels = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const LEVELS = levels.length ? levels : [1, 4, 16, 32];
const policy = JSON.parse(await readFile(path.join(root, "runner-setup", "policy.json"), "utf8"));
const work = await mkdtemp(path.join(os.tmpdir(), "crucible-concurrency-"));
const slotDir = path.join(work, "slots");
const scratchRoot = path.join(work, "scratch");
await mkdir(scratchRoot);
const dir = path.join(work, "experiments", "trivial");
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, "main.py"), 'print("ok")\n');
const experiment = path.join(dir, "experiment.yaml");
await writeFile(
  experiment,
  "apiVersion: crucible/v1\nname: trivial\ndescription: concurrency benchmark\nimage: base\n" +
    "command: [python3, main.py]\ninputs: [main.py]\nresources: {cpus: 1, memory: 128Mi, timeout: 300s}\n",
);

/** Host memory in use (MemTotal − MemAvailable), sampled while a level runs. */
async function memoryInUse() {
  const info = await readFile("/proc/meminfo", "utf8");
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(info)[1]);
  return (kib("MemTotal") - kib("MemAvailable")) * 1024;
}

function runOnce(resultsDir) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "run", experiment, "--results-dir", resultsDir], {
      cwd: root,
      env: { ...process.env, CRUCIBLE_SLOT_DIR: slotDir, RUNNER_TEMP: scratchRoot },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    child.on("close", (code) =>
      resolve({ code, wallSeconds: (Date.now() - started) / 1000, waited: output.includes("waiting for a sandbox slot"), output }),
    );
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

const docker = new Docker();
const rows = [];
for (const n of LEVELS) {
  const resultsDir = path.join(work, `results-${n}`);
  await mkdir(resultsDir);
  const baseline = await memoryInUse();
  let peak = baseline;
  const sampler = setInterval(async () => (peak = Math.max(peak, await memoryInUse())), 250);
  const started = Date.now();
  const runs = await Promise.all(Array.from({ length: n }, () => runOnce(resultsDir)));
  const wall = (Date.now() - started) / 1000;
  clearInterval(sampler);
  const results = [];
  for (const id of await readdir(resultsDir)) results.push(JSON.parse(await readFile(path.join(resultsDir, id, "result.json"), "utf8")));
  const runIds = new Set(results.map((r) => r.runId));
  const containers = (await docker.listContainers({ all: true, filters: { label: ["crucible.managed=true"] } })).filter((c) =>
    runIds.has(c.Labels["crucible.run-id"]),
  );
  const locks = (await readdir(slotDir).catch(() => [])).filter((f) => f.endsWith(".lock"));
  const scratch = await readdir(path.join(scratchRoot, "crucible")).catch(() => []);
  const failures =
    runs.filter((r) => r.code !== 0).length +
    Math.max(0, n - results.filter((r) => r.status === "succeeded").length - runs.filter((r) => r.code !== 0).length);
  const row = {
    concurrent: n,
    slots: policy.limits.maxConcurrentSandboxes,
    runsPerMinute: Math.round((n / wall) * 60 * 10) / 10,
    p95WallSeconds:
      Math.round(
        percentile(
          runs.map((r) => r.wallSeconds),
          95,
        ) * 10,
      ) / 10,
    waitedForSlot: runs.filter((r) => r.waited).length,
    peakHostMemoryMiB: Math.round(peak / 1024 / 1024),
    baselineHostMemoryMiB: Math.round(baseline / 1024 / 1024),
    failures,
    leftovers: containers.length + locks.length + scratch.length,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
  for (const r of runs.filter((r) => r.code !== 0)) console.error(`failed run (exit ${r.code}):\n${r.output.slice(-2000)}`);
}
const out = {
  measuredAt: new Date().toISOString(),
  host: { cpus: os.cpus().length, memoryMiB: Math.round(os.totalmem() / 1024 / 1024), kernel: os.release() },
  note: "each run is a separate `crucible run` process under runsc; wall time includes waiting for a sandbox slot",
  rows,
};
await writeFile(path.join(root, "actions", "run", "concurrency-benchmark.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`written actions/run/concurrency-benchmark.json`);
