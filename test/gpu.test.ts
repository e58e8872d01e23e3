// GPU support without a GPU: the allocator, the container configuration it leads to, and usage parsing.
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GpuAllocator, loadExperiment, loadPolicy, parseGpuUsage, runtimeFor } from "../actions/lib/src/index.js";
import { buildContainerConfig } from "../actions/lib/src/docker/index.js";
import { currentProcess, ownerLabels } from "../actions/lib/src/owner.js";
import { imagesDir, repoRoot } from "./support/repo.js";

const devices = async () => ["0", "1", "2", "3"];

describe("GpuAllocator", () => {
  it("never hands one GPU to two runs at once, and frees GPUs on release", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-gpu-"));
    const allocator = new GpuAllocator(dir, devices);
    const [a, b] = await Promise.all([allocator.allocate(2, { runId: "a" }), allocator.allocate(2, { runId: "b" })]);
    expect([...a.deviceIds, ...b.deviceIds].sort()).toEqual(["0", "1", "2", "3"]);
    await expect(allocator.allocate(1, { runId: "c" })).rejects.toThrow(
      "only 0 of the 1 GPU(s) asked for are free on this runner (4 in all)",
    );
    await a.release();
    const c = await allocator.allocate(2, { runId: "c" });
    expect(c.deviceIds.sort()).toEqual([...a.deviceIds].sort());
    await b.release();
    await c.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("takes over a lease whose process is gone, but not a live one", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-gpu-"));
    const self = await currentProcess();
    expect(self).toBeDefined();
    const holder = (runId: string, pid: number, startTime: string) =>
      JSON.stringify({ runId, since: new Date().toISOString(), labels: ownerLabels({ ...self!, pid, startTime }) });
    // Slot i is device i: device 0's holder has exited, device 1's is this very process.
    await writeFile(path.join(dir, "slot-0.lock"), holder("crashed", 999_999_999, "1"));
    await writeFile(path.join(dir, "slot-1.lock"), holder("alive", self!.pid, self!.startTime));
    const allocator = new GpuAllocator(dir, async () => ["0", "1"]);
    const lease = await allocator.allocate(1, { runId: "new" });
    expect(lease.deviceIds).toEqual(["0"]);
    await expect(allocator.allocate(1, { runId: "other" })).rejects.toThrow(/only 0 of the 1/);
    expect(JSON.parse(await readFile(path.join(dir, "slot-1.lock"), "utf8")).runId).toBe("alive");
  });

  it("refuses more GPUs than the host has and keeps nothing", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-gpu-"));
    await expect(new GpuAllocator(dir, devices).allocate(5, { runId: "x" })).rejects.toThrow("asks for 5 GPU(s) but this runner has 4");
    await expect(new GpuAllocator(dir, devices).allocate(4, { runId: "x" })).resolves.toMatchObject({ deviceIds: ["0", "1", "2", "3"] });
  });
});

describe("GPU container configuration", () => {
  it("uses the nvproxy runtime and exactly the leased devices, with the same hardening", async () => {
    const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.gpu.json"));
    const experiment = await loadExperiment(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), { imagesDir });
    const spec = {
      image: "sha256:abc",
      policy,
      resources: { ...experiment.resources, gpus: 2 },
      inputs: [],
      artifacts: [],
      name: "20260101T000000Z-0a0b0c",
      outputBytes: 1 << 20,
      env: {},
      labels: {},
      gpuDeviceIds: ["2", "3"],
    };
    const config = buildContainerConfig(spec, ["python3", "train.py"], "/scratch/out");
    expect(config.HostConfig).toMatchObject({
      Runtime: "runsc-nvproxy",
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      DeviceRequests: [{ Driver: "nvidia", DeviceIDs: ["2", "3"], Capabilities: [["gpu", "compute", "utility"]] }],
    });
    expect(runtimeFor({ ...spec, gpuDeviceIds: [] })).toBe("runsc");
  });

  it("refuses a policy that allows GPUs without naming the GPU runtime", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-policy-"));
    const policy = JSON.parse(await readFile(path.join(repoRoot, "runner-setup/policy.json"), "utf8"));
    policy.limits.maxGpus = 2;
    await writeFile(path.join(dir, "policy.json"), JSON.stringify(policy));
    await expect(loadPolicy(path.join(dir, "policy.json"))).rejects.toThrow(/allows GPUs .* but has no gpu section/);
  });
});

describe("parseGpuUsage", () => {
  it("averages utilisation and sums memory over the run's own devices only", () => {
    const csv = "0, 90, 1000\n1, 50, 2000\n2, 10, 4000\n";
    expect(parseGpuUsage(csv, ["0", "1"], 5)).toEqual({ t: 5, utilizationPercent: 70, memoryBytes: 3000 * 1024 * 1024 });
    expect(parseGpuUsage(csv, ["7"], 5)).toBeUndefined();
    expect(parseGpuUsage("NVIDIA-SMI has failed", ["0"], 5)).toBeUndefined();
  });
});
