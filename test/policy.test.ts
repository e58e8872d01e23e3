// The container configuration: the one place policy becomes Docker settings.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkAgainstPolicy, loadExperiment, loadPolicy, PolicyRejectedError, type SandboxSpec } from "../actions/lib/src/index.js";
import { buildContainerConfig } from "../actions/lib/src/docker/index.js";
import { imagesDir, repoRoot } from "./support/repo.js";

const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
const experiment = await loadExperiment(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), { imagesDir });

function spec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    image: "sha256:abc",
    policy,
    resources: experiment.resources,
    inputs: experiment.inputs,
    artifacts: [],
    name: "20260101T000000Z-0a0b0c",
    outputBytes: 1 << 20,
    env: { CRUCIBLE_PARAMS: "{}" },
    labels: { "crucible.managed": "true" },
    gpuDeviceIds: [],
    ...overrides,
  };
}

describe("buildContainerConfig", () => {
  it("applies the hardened defaults", () => {
    const config = buildContainerConfig(spec(), ["python3", "main.py"], "/scratch/run/output");
    expect(config).toMatchObject({
      Cmd: ["python3", "main.py"],
      Entrypoint: [],
      Hostname: "sandbox",
      User: "65534:65534",
      Tty: false,
      NetworkDisabled: true,
      HostConfig: {
        Runtime: "runsc",
        NetworkMode: "none",
        ReadonlyRootfs: true,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges:true"],
        Privileged: false,
        PidsLimit: 4096,
        Memory: 256 * 1024 ** 2,
        MemorySwap: 256 * 1024 ** 2,
        NanoCpus: 1e9,
        Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${64 * 1024 ** 2}` },
        LogConfig: { Type: "json-file", Config: { "max-size": String(16 * 1024 ** 2), "max-file": "1" } },
      },
    });
    expect(config.HostConfig!.Mounts).toEqual([
      { Type: "bind", Source: path.join(repoRoot, "experiments/hello-sandbox/main.py"), Target: "/experiment/main.py", ReadOnly: true },
      { Type: "bind", Source: "/scratch/run/output", Target: "/output", ReadOnly: false },
    ]);
    expect(config.HostConfig!.DeviceRequests).toBeUndefined();
    expect(config.HostConfig!.PidsLimit).toBeGreaterThanOrEqual(64);
  });

  it("passes untrusted argv through as separate elements, never a shell string", () => {
    const argv = ["python3", "-c", "import os; os.system('rm -rf /')", "$(reboot)", "--privileged"];
    expect(buildContainerConfig(spec(), argv, "/scratch/run/output").Cmd).toEqual(argv);
  });
});

describe("checkAgainstPolicy", () => {
  it("accepts what fits and names every limit exceeded", () => {
    expect(() => checkAgainstPolicy(experiment, policy)).not.toThrow();
    const greedy = { ...experiment, resources: { cpus: 3, memoryBytes: 64 * 1024 ** 3, timeoutSeconds: 60, gpus: 1 } };
    expect(() => checkAgainstPolicy(greedy, policy)).toThrow(PolicyRejectedError);
    expect(() => checkAgainstPolicy(greedy, policy)).toThrow(
      /resources\.cpus 3 exceeds the runner's limit of 2.*resources\.memory .* exceeds.*resources\.gpus 1 exceeds the runner's limit of 0/,
    );
  });
});
