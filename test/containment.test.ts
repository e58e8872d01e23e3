// The containment suite, run for real: every attack under runsc (and runc for comparison), judged by
// host-side checks. CI fails here if any attack gets through gVisor.
import { cp, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { loadPolicy, monitoringRulesFile, validateContainmentMatrixDocument } from "../actions/lib/src/index.js";
import { monitoringFor, runContainmentSuite } from "../actions/lib/src/docker/index.js";
import { experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const docker = new Docker();
const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
// As assembleRun gives it: the suite traces its runs under runsc, never the runc baseline.
const monitoring = await monitoringFor(docker, monitoringRulesFile(repoRoot), policy);

describe("containment suite", () => {
  it("contains every attack under runsc, and shows what runc lets through", { timeout: 1_800_000 }, async () => {
    const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-containment-"));
    const { verdicts, matrix } = await runContainmentSuite({
      suiteDir: path.join(repoRoot, "experiments/containment"),
      imagesDir,
      policy,
      docker,
      runtimes: ["runsc", "runc"],
      monitoring,
      repoRoot,
      resultsRoot,
    });
    const runsc = verdicts.filter((v) => v.runtime === "runsc");
    expect(runsc.length).toBeGreaterThanOrEqual(7);
    for (const v of runsc) expect({ attack: v.attack, reasons: v.reasons }).toEqual({ attack: v.attack, reasons: [] });
    for (const v of runsc) expect(v.techniques.length, v.attack).toBeGreaterThan(0);
    // The comparison is only meaningful if plain runc differs somewhere.
    const gaps = matrix.techniques.filter((t) => t.outcomes.runsc?.outcome !== "succeeded" && t.outcomes.runc?.outcome === "succeeded");
    expect(gaps.length).toBeGreaterThan(0);
    expect(validateContainmentMatrixDocument(matrix)).toBe(true);
    // Monitoring traces every runsc run and never the runc baseline, which is "not monitored", not "not detected".
    for (const v of runsc) expect(v.detection.status, v.attack).toBe("available");
    for (const v of verdicts.filter((v) => v.runtime === "runc")) expect(v.detection.status, v.attack).toBe("not-monitored");
    const rules = (attack: string) => {
      const detection = runsc.find((v) => v.attack === attack)?.detection;
      return detection?.status === "available" ? detection.alerts.map((a) => a.rule) : [];
    };
    expect(rules("network-exfiltration")).toContain("network-egress");
    expect(rules("privilege-escalation")).toEqual(
      expect.arrayContaining(["namespace-escape", "ptrace", "kernel-interface", "setuid-exec"]),
    );
    expect(rules("persistence-interference")).toContain("other-environ-read");
    // #18's target: under runsc every attack raises an alert of its own kind (the categories its techniques report).
    for (const v of runsc) {
      const kinds = new Set(v.techniques.map((t) => t.category));
      const raised = v.detection.status === "available" ? v.detection.alerts.map((a) => `${a.rule} (${a.kind})`) : [];
      expect(
        v.detection.status === "available" && v.detection.alerts.some((a) => kinds.has(a.kind)),
        `${v.attack} (kinds ${[...kinds].join(", ")}) raised ${raised.join(", ") || "nothing"}`,
      ).toBe(true);
    }
  });

  it("judges attacks that crash, hang, say nothing or lie about their format by the host checks", { timeout: 600_000 }, async () => {
    const suite = path.dirname(
      path.dirname(
        await makeExperiment("crashes", {
          "experiment.yaml": experimentYaml("crashes", { extra: "expect:\n  contained: true" }),
          "main.py": "raise SystemExit('attacker crashed')\n",
        }),
      ),
    );
    const root = path.dirname(suite);
    await makeExperiment(
      "hangs",
      {
        "experiment.yaml": experimentYaml("hangs", {
          resources: "  cpus: 1\n  memory: 128Mi\n  timeout: 3s",
          extra: "expect:\n  contained: true",
        }),
        "main.py": "import time\ntime.sleep(600)\n",
      },
      root,
    );
    await makeExperiment(
      "silent",
      { "experiment.yaml": experimentYaml("silent", { extra: "expect:\n  contained: true" }), "main.py": "" },
      root,
    );
    await makeExperiment(
      "garbled",
      {
        "experiment.yaml": experimentYaml("garbled", { extra: "expect:\n  contained: true" }),
        "main.py":
          "import os\nopen(os.environ['CRUCIBLE_OUTPUT'] + '/techniques.jsonl', 'w').write('not json\\n{\"outcome\": " +
          '"maybe"}\\n{"category": "x", "technique": "y", "outcome": "blocked", "evidence": "ok"}\\n\')\n',
      },
      root,
    );
    await makeExperiment(
      "wrong-ending",
      {
        "experiment.yaml": experimentYaml("wrong-ending", { extra: "expect:\n  contained: true\n  statuses: [timed-out]" }),
        "main.py": "print('finished early')\n",
      },
      root,
    );
    await cp(path.join(repoRoot, "experiments/containment/clean-start-probe"), path.join(suite, "clean-start-probe"), { recursive: true });

    const { verdicts } = await runContainmentSuite({
      suiteDir: suite,
      imagesDir,
      policy,
      docker,
      runtimes: ["runsc"],
      monitoring,
      repoRoot: root,
    });
    const by = Object.fromEntries(verdicts.map((v) => [v.attack, v]));
    expect(by.crashes).toMatchObject({ status: "failed", verdict: "contained", techniques: [] });
    expect(by.hangs).toMatchObject({ status: "timed-out", verdict: "contained" });
    expect(by.silent).toMatchObject({ status: "succeeded", verdict: "contained", techniques: [] });
    expect(by.garbled).toMatchObject({
      verdict: "contained",
      malformedReports: 2,
      techniques: [{ category: "x", technique: "y", outcome: "blocked", evidence: "ok" }],
    });
    expect(by["wrong-ending"]!.verdict).toBe("breached");
    expect(by["wrong-ending"]!.reasons).toEqual([
      "host check failed: run ended as expected (status succeeded; contained statuses: timed-out)",
    ]);
    for (const v of verdicts)
      expect(
        v.hostChecks.filter((c) => c.check !== "run ended as expected").every((c) => c.ok),
        `${v.attack}: ${JSON.stringify(v.hostChecks)}`,
      ).toBe(true);
  });
});
