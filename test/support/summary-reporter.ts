import type { Reporter, TestModule } from "vitest/node";

import { writeFileSync } from "node:fs";

/**
 * Prints one plain "vitest: N passed, N failed, N skipped" line that CI tooling reads. Under
 * test/support/run-tiers.mjs (npm test) the counts go to the file it names instead, and it prints one
 * line for both tiers.
 */
export default class SummaryLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      if (module.state() === "failed" && module.children.size === 0) failed++;
    }
    failed += unhandledErrors.length;
    const countsFile = process.env.CRUCIBLE_VITEST_COUNTS;
    if (countsFile) writeFileSync(countsFile, JSON.stringify({ passed, failed, skipped }));
    else process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
