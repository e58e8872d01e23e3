// npm test's vitest part: the fast tier (no Docker) first, then the full suite only if it passed, and one
// "vitest: N passed, N failed, N skipped" line over both tiers for CI.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const folder = mkdtempSync(join(tmpdir(), "crucible-vitest-"));
const total = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const project of ["fast", "full"]) {
  const countsFile = join(folder, `${project}.json`);
  const run = spawnSync("vitest", ["run", "--project", project], {
    stdio: "inherit",
    env: { ...process.env, CRUCIBLE_VITEST_COUNTS: countsFile },
  });
  let counts;
  try {
    counts = JSON.parse(readFileSync(countsFile, "utf8"));
  } catch {
    counts = { passed: 0, failed: 1, skipped: 0 }; // vitest ended before reporting: count it as a failure
  }
  for (const key of Object.keys(total)) total[key] += counts[key];
  status = run.status ?? 1;
  if (status !== 0) break;
}
rmSync(folder, { recursive: true, force: true });
process.stdout.write(`\nvitest: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
process.exit(status);
