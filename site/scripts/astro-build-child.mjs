// Runs one `astro build` in this process and reports its own peak resident memory on the last line
// of stdout, so the benchmark measures the build and not the process that starts it.
import { build } from "astro";

const started = performance.now();
await build({ root: process.argv[2] ?? "site", logLevel: "warn" });
const seconds = (performance.now() - started) / 1000;
// resourceUsage(): maxRSS in kilobytes, CPU times in microseconds (this process; Pagefind's own binary is not included).
const usage = process.resourceUsage();
const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
console.log(`CRUCIBLE_BUILD ${JSON.stringify({ seconds, cpuSeconds, maxRssBytes: usage.maxRSS * 1024 })}`);
