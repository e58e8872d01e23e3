import { defineConfig } from "vitest/config";

/**
 * The fast tier (`npm run test:fast`, the first thing `npm test` runs): unit tests that need neither
 * Docker nor gVisor nor a browser — the run logic over the fake provider, validation, policy, relay,
 * the inertness of untrusted text, the workflows' lint, and experiments' own images as data (sources,
 * Dockerfile checks, provenance).
 */
export const FAST_TESTS = [
  "test/run-logic.test.ts",
  "test/experiment.test.ts",
  "test/policy.test.ts",
  "test/gpu.test.ts",
  "test/relay.test.ts",
  "test/inert.test.ts",
  "test/workflows.test.ts",
  "test/layout.test.ts",
  "test/image-source.test.ts",
  "test/image-provenance.test.ts",
  "test/contracts.test.ts",
  "test/house-rules.test.ts",
  "test/runner-cache.test.ts",
  "test/bundle-build.test.ts",
  "test/usage-sampling.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 600_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "fast", include: FAST_TESTS } },
      {
        extends: true,
        test: {
          name: "full",
          include: ["test/**/*.test.ts"],
          exclude: FAST_TESTS,
          // Docker, gVisor and Astro tests share one daemon and two cores: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
