// Multi-stage experiments: validation of stages and params, and real staged runs through Docker and
// gVisor with the artifact store in between. Nothing is mocked.
import { createHash } from "node:crypto";
import { chmod, mkdtemp, readFile, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ArtifactStore,
  ExperimentInvalidError,
  loadExperiment,
  loadPolicy,
  pruneArtifactStore,
  runExperiment,
  UsageMonitor,
  validateResultDocument,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { DockerSandboxProvider, buildContainerConfig } from "../actions/lib/src/docker/index.js";
import { imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const header = [
  "apiVersion: crucible/v1",
  "name: staged",
  "description: staged test",
  "image: base",
  "inputs: [prog.py]",
  "resources: {cpus: 1, memory: 256Mi, timeout: 60s}",
];

async function invalid(lines: string[], extra: Record<string, string> = {}): Promise<string[]> {
  const file = await makeExperiment("staged", { "experiment.yaml": [...header, ...lines, ""].join("\n"), "prog.py": "", ...extra });
  try {
    await loadExperiment(file, { imagesDir });
  } catch (error) {
    if (error instanceof ExperimentInvalidError) return error.issues.map((i) => `${i.line}:${i.column} ${i.message}`);
    throw error;
  }
  return [];
}

describe("staged experiment validation", () => {
  it("orders stages after the stages they need, merging params, inputs and resources", async () => {
    const file = await makeExperiment("staged", {
      "experiment.yaml": [
        ...header,
        "params: {a: 1, b: 2}",
        "stages:",
        "  report:",
        "    needs: [train, probe]",
        "    command: [python3, prog.py]",
        "  probe:",
        "    needs: [train]",
        "    command: [python3, prog.py]",
        "    inputs: [extra.txt]",
        "    params: {b: 3}",
        "    resources: {timeout: 5m}",
        "  train:",
        "    command: [python3, prog.py]",
        "    artifacts: [model.bin]",
        "",
      ].join("\n"),
      "prog.py": "",
      "extra.txt": "",
    });
    const experiment = await loadExperiment(file, { imagesDir });
    expect(experiment.stages!.map((s) => s.name)).toEqual(["train", "probe", "report"]);
    const probe = experiment.stages![1]!;
    expect(probe.params).toEqual({ a: 1, b: 3 });
    expect(probe.inputs.map((i) => i.relative)).toEqual(["prog.py", "extra.txt"]);
    expect(probe.resources).toEqual({ cpus: 1, memoryBytes: 256 * 1024 ** 2, timeoutSeconds: 300, gpus: 0 });
    expect(experiment.stages![0]!.artifacts).toEqual(["model.bin"]);
  });

  it("points at unknown needs, self-needs, cycles and a top-level command, with line and column", async () => {
    expect(await invalid(["stages:", "  a:", "    needs: [nope]", "    command: [python3, prog.py]"])).toEqual([
      '9:13 stage "a" needs "nope", which is not a stage of this experiment (stages: a)',
    ]);
    expect(await invalid(["stages:", "  a:", "    needs: [a]", "    command: [x]"])).toEqual(['9:13 stage "a" cannot need itself']);
    const cycle = await invalid(["stages:", "  a:", "    needs: [b]", "    command: [x]", "  b:", "    needs: [a]", "    command: [x]"]);
    expect(cycle).toEqual(['9:12 the needs of stages "a", "b" form a cycle, so none of them could start']);
    expect(await invalid(["command: [x]", "stages:", "  a:", "    command: [x]"])).toEqual([
      "7:10 a staged experiment gives each stage its own command: remove the top-level command",
    ]);
    expect(await invalid(["stages:", "  a:", "    command: python3 prog.py"])).toEqual([
      "9:14 command must be an argv array such as [python3, main.py]; a shell string is refused because nothing is run through a shell",
    ]);
    expect(await invalid(["stages:", "  a:", "    command: [x]", "    artifacts: [../escape]"])).toHaveLength(1);
    expect(await invalid([])).toEqual(['1:1 (top level) is missing the required key "command"']);
  });

  it("checks params against the experiment's params schema, at the offending value, once", async () => {
    const schema = JSON.stringify({
      type: "object",
      additionalProperties: false,
      properties: {
        ratio: { type: "number", minimum: 0, maximum: 1, description: "Fraction of poisoned samples." },
        kind: { enum: ["a", "b"] },
      },
    });
    const issues = await invalid(
      [
        "paramsSchema: params.schema.json",
        "params: {ratio: 1.5, kind: a}",
        "stages:",
        "  x:",
        "    command: [x]",
        "  y:",
        "    command: [x]",
        "    params: {kind: c}",
      ],
      { "params.schema.json": schema },
    );
    expect(issues).toEqual([
      "8:17 params.ratio must be <= 1 — Fraction of poisoned samples. (checked against params.schema.json)",
      '14:20 stages.y.params.kind must be one of "a", "b" (checked against params.schema.json)',
    ]);
    expect(await invalid(["paramsSchema: missing.json", "command: [x]"])).toEqual([
      expect.stringMatching(/^7:15 params schema "missing.json" does not exist/),
    ]);
    expect(await invalid(["paramsSchema: params.schema.json", "command: [x]"], { "params.schema.json": "{not json" })).toEqual([
      expect.stringMatching(/^7:15 params schema "params.schema.json" cannot be used: .*JSON/),
    ]);
  });
});

describe("artifact store", () => {
  it("stores by sha256 read-only, dedupes, and refuses a stored file that changed", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "crucible-store-"));
    const store = new ArtifactStore(path.join(root, "store"));
    const file = path.join(root, "model.bin");
    await writeFile(file, "weights");
    const artifact = await store.put(file, "model.bin");
    expect(artifact).toEqual({ path: "model.bin", sha256: createHash("sha256").update("weights").digest("hex"), size: 7 });
    expect((await stat(store.pathOf(artifact.sha256))).mode & 0o777).toBe(0o444);
    expect(await store.put(file, "again.bin")).toMatchObject({ sha256: artifact.sha256 });
    expect(await store.verified(artifact)).toBe(store.pathOf(artifact.sha256));
    await chmod(store.pathOf(artifact.sha256), 0o644);
    await writeFile(store.pathOf(artifact.sha256), "tampered");
    await expect(store.verified(artifact)).rejects.toThrow(/no longer matches its sha256/);
    await expect(store.verified({ ...artifact, sha256: "0".repeat(64) })).rejects.toThrow(/missing from the artifact store/);
    expect(() => store.pathOf("../../etc/passwd")).toThrow(/not a sha256 digest/);
  });

  it("prunes files not stored again within the age limit; storing again renews them", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "crucible-store-"));
    const store = new ArtifactStore(path.join(root, "store"));
    await writeFile(path.join(root, "a"), "a");
    await writeFile(path.join(root, "b"), "bb");
    const a = await store.put(path.join(root, "a"), "a");
    const b = await store.put(path.join(root, "b"), "b");
    const old = new Date(Date.now() - 3 * 86400_000);
    await utimes(store.pathOf(a.sha256), old, old);
    await utimes(store.pathOf(b.sha256), old, old);
    await store.put(path.join(root, "b"), "b");
    expect(await pruneArtifactStore(store, 86400)).toEqual({ files: 1, bytes: 1 });
    await expect(store.verified(a)).rejects.toThrow(/missing/);
    expect(await store.verified(b)).toBe(store.pathOf(b.sha256));
  });

  it("mounts each artifact read-only at /artifacts/<stage>/<path> in the container configuration", async () => {
    const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
    const config = buildContainerConfig(
      {
        image: "sha256:abc",
        policy,
        resources: { cpus: 1, memoryBytes: 1 << 28, timeoutSeconds: 60, gpus: 0 },
        inputs: [],
        artifacts: [{ stage: "train", path: "ckpt/model.pt", hostPath: "/store/sha256/ab" }],
        name: "20260101T000000Z-0a0b0c-train",
        outputBytes: 1 << 20,
        env: {},
        labels: {},
        gpuDeviceIds: [],
      },
      ["python3"],
      "/scratch/out",
    );
    expect(config.HostConfig!.Mounts).toContainEqual({
      Type: "bind",
      Source: "/store/sha256/ab",
      Target: "/artifacts/train/ckpt/model.pt",
      ReadOnly: true,
    });
  });
});

describe("a staged run's usage", () => {
  it("joins each stage's samples at its start offset and keeps every stage's exact peaks, GPU ones included", () => {
    const run = new UsageMonitor();
    run.addRecord({ samples: [{ t: 1, cpuPercent: 50, memoryBytes: 10 }], peak: { cpuPercent: 90, memoryBytes: 20 } }, 0);
    run.addRecord(
      {
        samples: [{ t: 1, cpuPercent: 30, memoryBytes: 40 }],
        gpuSamples: [{ t: 2, utilizationPercent: 60, memoryBytes: 5 }],
        peak: { cpuPercent: 30, memoryBytes: 40, gpuUtilizationPercent: 70, gpuMemoryBytes: 6 },
      },
      10,
    );
    expect(run.record()).toEqual({
      samples: [
        { t: 1, cpuPercent: 50, memoryBytes: 10 },
        { t: 11, cpuPercent: 30, memoryBytes: 40 },
      ],
      gpuSamples: [{ t: 12, utilizationPercent: 60, memoryBytes: 5 }],
      peak: { cpuPercent: 90, memoryBytes: 40, gpuUtilizationPercent: 70, gpuMemoryBytes: 6 },
    });
  });
});

describe("staged runs under gVisor", () => {
  let policy: SandboxPolicy;
  let provider: DockerSandboxProvider;
  beforeAll(async () => {
    policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
    provider = new DockerSandboxProvider(policy.runtime, imagesDir);
    await provider.prepareImage("base");
  });

  const program = `
import hashlib, json, os, sys
mode = sys.argv[1]
params = json.loads(os.environ["CRUCIBLE_PARAMS"])
print("stage", os.environ["CRUCIBLE_STAGE"], "n", params["n"])
if mode == "make":
    open("/output/model.bin", "wb").write(os.urandom(4096))
    json.dump({"size": {"value": 4096, "unit": "bytes", "description": "checkpoint size"}}, open("/output/metrics.json", "w"))
elif mode == "use":
    data = open("/artifacts/make/model.bin", "rb").read()
    try:
        open("/artifacts/make/model.bin", "ab").write(b"x")
        writable = 1
    except OSError:
        writable = 0
    json.dump({"seen_sha256": hashlib.sha256(data).hexdigest()}, open("/output/seen.json", "w"))
    json.dump({"artifact_writable": writable, "n": params["n"]}, open("/output/metrics.json", "w"))
    json.dump({
        "roc": {"kind": "line", "columns": ["fpr", "tpr"], "rows": [[0, 0], [0.5, 0.9], [1, 1]], "x": "fpr", "y": "tpr"},
        "bad": {"kind": "pie"},
    }, open("/output/series.json", "w"))
elif mode == "forget":
    pass
else:
    sys.exit(3)
`;

  it("passes artifacts by hash, keeps them out of the results, and skips the dependents of a failed stage", async () => {
    const file = await makeExperiment("staged", {
      "experiment.yaml": [
        ...header,
        "params: {n: 1}",
        "stages:",
        "  make:",
        "    command: [python3, prog.py, make]",
        "    artifacts: [model.bin]",
        "  use:",
        "    needs: [make]",
        "    command: [python3, prog.py, use]",
        "    params: {n: 2}",
        "  broken:",
        "    command: [python3, prog.py, broken]",
        "  after-broken:",
        "    needs: [broken]",
        "    command: [python3, prog.py, use]",
        "  forgets:",
        "    command: [python3, prog.py, forget]",
        "    artifacts: [promised.bin]",
        "  after-forgets:",
        "    needs: [forgets]",
        "    command: [python3, prog.py, use]",
        "",
      ].join("\n"),
      "prog.py": program,
    });
    const experiment = await loadExperiment(file, { imagesDir });
    const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
    const artifactStore = await mkdtemp(path.join(os.tmpdir(), "crucible-store-"));
    const { result, resultDir } = await runExperiment({ experiment, policy, provider, repoRoot, resultsRoot, artifactStore });

    expect(validateResultDocument(JSON.parse(await readFile(path.join(resultDir, "result.json"), "utf8")))).toBe(true);
    const byName = Object.fromEntries(result.stages!.map((s) => [s.name, s]));
    expect(result.stages!.map((s) => [s.name, s.status])).toEqual([
      ["make", "succeeded"],
      ["use", "succeeded"],
      ["broken", "failed"],
      ["after-broken", "skipped"],
      ["forgets", "failed"],
      ["after-forgets", "skipped"],
    ]);
    expect(byName["after-broken"]!.statusReason).toBe("needs stage broken, which ended failed: The program exited with code 3.");
    expect(byName.forgets!.statusReason).toMatch(/did not write the declared artifact\(s\) promised.bin/);
    expect(result.status).toBe("failed");
    expect(result.statusReason).toBe("stage broken ended failed: The program exited with code 3; skipped: after-broken, after-forgets");

    // The artifact went to the store, not into the results, and the next stage read exactly those bytes.
    const stored = byName.make!.storedArtifacts[0]!;
    expect(result.storedArtifacts).toEqual([{ stage: "make", ...stored }]);
    expect(byName.use!.consumed).toEqual([{ stage: "make", ...stored }]);
    const seen = JSON.parse(await readFile(path.join(resultDir, "stages/use/output/seen.json"), "utf8"));
    expect(seen.seen_sha256).toBe(stored.sha256);
    expect(await stat(path.join(resultDir, "stages/make/output/model.bin")).catch(() => undefined)).toBeUndefined();
    expect(result.artifacts.map((a) => a.path)).not.toContain("stages/make/output/model.bin");
    expect((await stat(new ArtifactStore(artifactStore).pathOf(stored.sha256))).size).toBe(4096);

    // Mounted read-only; stage params merged; metrics merged with units; a malformed series dropped with the reason.
    expect(result.metrics).toMatchObject({ size: 4096, artifact_writable: 0, n: 2 });
    expect(result.metricInfo!.size).toEqual({ unit: "bytes", description: "checkpoint size", stage: "make" });
    expect(result.series!.roc).toMatchObject({
      kind: "line",
      stage: "use",
      rows: [
        [0, 0],
        [0.5, 0.9],
        [1, 1],
      ],
    });
    expect(result.series!.bad).toBeUndefined();
    expect(result.dropped).toContainEqual(expect.objectContaining({ path: "stages/use/series.json#bad" }));

    // Each stage keeps its own log; the run's log interleaves them with the stage name.
    expect(await readFile(path.join(resultDir, "stages/use/log.txt"), "utf8")).toContain("stage use n 2");
    expect(await readFile(path.join(resultDir, "log.txt"), "utf8")).toMatch(/make \| stage make n 1[\s\S]*use \| stage use n 2/);
    expect(byName.use!.policy).toMatchObject({ HostConfig: { Runtime: "runsc", ReadonlyRootfs: true } });
  });
});
