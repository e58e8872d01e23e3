// GPU support without a GPU: the allocator, the container configuration it leads to, behaviour monitoring of
// GPU sandboxes (the traced GPU runtimes setup writes, their discovery, the runtime a GPU run gets), and usage
// parsing.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import {
  GpuAllocator,
  loadExperiment,
  loadPolicy,
  loadRules,
  parseGpuUsage,
  runExperiment,
  runtimeFor,
  type MonitoringSetup,
  type RuleSet,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { buildContainerConfig, findMonitoringSetup, monitoringFor } from "../actions/lib/src/docker/index.js";
import { currentProcess, ownerLabels } from "../actions/lib/src/owner.js";
import { FakeSandboxProvider } from "./support/fake-sandbox.js";
import { experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

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

/** A GPU experiment and a GPU policy whose one device and lease folder are the test's own. */
async function gpuRun(name: string, monitoring: Parameters<typeof runExperiment>[0]["monitoring"], program: () => Promise<number>) {
  const gpuPolicy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.gpu.json"));
  const file = await makeExperiment(name, {
    "experiment.yaml": experimentYaml(name, { command: "[main]", resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 60s\n  gpus: 1" }),
    "main.py": "",
  });
  const provider = new FakeSandboxProvider({ main: program });
  const leaseDir = await mkdtemp(path.join(os.tmpdir(), "crucible-gpu-"));
  const { result } = await runExperiment({
    experiment: await loadExperiment(file, { imagesDir }),
    policy: { ...gpuPolicy, gpu: { ...gpuPolicy.gpu!, leaseDir, devices: ["0"] } },
    provider,
    repoRoot: path.resolve(file, "../../.."),
    resultsRoot: await mkdtemp(path.join(os.tmpdir(), "crucible-results-")),
    monitoring,
  });
  return { result, spec: provider.calls[0]!.spec };
}

describe("behaviour monitoring of GPU sandboxes", () => {
  let rules: RuleSet;
  let socketDir: string;
  const channel = (k: number, gpu: boolean): MonitoringSetup => ({
    runtime: `runsc-monitored-${k}`,
    ...(gpu ? { gpuRuntime: `runsc-nvproxy-monitored-${k}` } : {}),
    podInitConfig: `/etc/crucible/monitoring/pod-init-${k}.json`,
    endpoint: path.join(socketDir, `sink-${k}.sock`),
  });
  beforeAll(async () => {
    rules = await loadRules(path.join(repoRoot, "runner-setup/monitoring-rules.json"));
  });

  it("a GPU run leases a trace channel and runs under its GPU variant: nvproxy's arguments with the channel's trace session", async () => {
    socketDir = await mkdtemp(path.join(os.tmpdir(), "crucible-sockets-"));
    let listening = false;
    const { result, spec } = await gpuRun("gpu-monitored", { channels: [channel(0, true)], rules, drainMs: 50 }, async () => {
      listening = existsSync(path.join(socketDir, "sink-0.sock"));
      return 0;
    });
    expect(listening).toBe(true);
    expect(spec.traced).toEqual({ runtime: "runsc-monitored-0", gpuRuntime: "runsc-nvproxy-monitored-0" });
    expect(runtimeFor(spec)).toBe("runsc-nvproxy-monitored-0");
    expect(buildContainerConfig(spec, ["main"], "/scratch/out").HostConfig).toMatchObject({
      Runtime: "runsc-nvproxy-monitored-0",
      NetworkMode: "none",
      CapDrop: ["ALL"],
      DeviceRequests: [{ Driver: "nvidia", DeviceIDs: ["0"], Capabilities: [["gpu", "compute", "utility"]] }],
    });
    // The fake sandbox never connects to the socket, so the record says the collector heard nothing.
    expect(result.monitoring).toMatchObject({ status: "available", runtime: "runsc-nvproxy-monitored-0", collector: "broken" });
    // The same channel gives a sandbox without GPUs the plain traced runtime, never nvproxy's.
    expect(runtimeFor({ ...spec, gpuDeviceIds: [] })).toBe("runsc-monitored-0");
    expect(runtimeFor({ ...spec, traced: undefined })).toBe("runsc-nvproxy");
    expect(() => runtimeFor({ ...spec, traced: { runtime: "runsc-monitored-0" } })).toThrow(
      "a sandbox with GPUs was given the trace channel of runsc-monitored-0, which has no GPU variant",
    );
    expect(await readdir(socketDir)).toEqual([]);
  });

  it("records a GPU run as not monitored, saying why, and leases no channel when the runner has no traced GPU runtime", async () => {
    socketDir = await mkdtemp(path.join(os.tmpdir(), "crucible-sockets-"));
    const gpuUnavailable = 'Docker has no runtime "runsc-nvproxy-monitored-0"';
    const { result, spec } = await gpuRun("gpu-unmonitored", { channels: [channel(0, false)], rules, gpuUnavailable }, async () => {
      expect(await readdir(socketDir)).toEqual([]);
      return 0;
    });
    expect(result.status).toBe("succeeded");
    expect(result.monitoring).toEqual({
      status: "unavailable",
      reason: `a sandbox with GPUs is not traced on this runner: ${gpuUnavailable}`,
      sources: ["output", "outcome"],
    });
    expect(spec).toMatchObject({ gpuDeviceIds: ["0"] });
    expect(spec.traced).toBeUndefined();
    expect(runtimeFor(spec)).toBe("runsc-nvproxy");
    expect(await readdir(socketDir)).toEqual([]);
  });
});

describe("configure-docker.mjs: the traced GPU runtimes, and finding them", () => {
  const script = path.join(repoRoot, "runner-setup/configure-docker.mjs");
  const template = path.join(repoRoot, "runner-setup/monitoring/pod-init.json");
  const gpuArgs = ["--network=none", "--platform=systrap", "--oci-seccomp", "--nvproxy"];
  let dir: string;
  let runsc: string;

  /** A runsc that answers --version, flags and help platforms as a gVisor release build would. */
  async function fakeRunsc(name: string, flags: string[]): Promise<string> {
    const file = path.join(dir, name);
    const listed = flags.map((flag) => `  -${flag}\\n    \\tusage\\n`).join("");
    const answers = `--version) printf 'runsc version release-20240807.0\\nspec: 1.1.0\\n' ;;\n  flags) printf '${listed}' ;;`;
    await writeFile(file, `#!/bin/sh\ncase "$1" in\n  ${answers}\n  help) printf 'ptrace\\nsystrap\\n' ;;\nesac\n`);
    await chmod(file, 0o755);
    return file;
  }

  function configure(daemonJson: string, n: number): string {
    return execFileSync(
      process.execPath,
      [
        script,
        daemonJson,
        runsc,
        `--pod-init-template=${template}`,
        `--monitoring-dir=${path.join(dir, "monitoring")}`,
        `--monitored-runtimes=${n}`,
        "--gpu-runtimes=runsc-nvproxy",
      ],
      { encoding: "utf8" },
    );
  }

  const readRuntimes = async (file: string) =>
    (JSON.parse(await readFile(file, "utf8")) as { runtimes: Record<string, { path: string; runtimeArgs: string[] }> }).runtimes;
  /** A Docker client whose daemon knows exactly these runtime entries (as `docker info` lists daemon.json's). */
  const dockerKnowing = (runtimes: Record<string, unknown>) => ({ info: async () => ({ Runtimes: runtimes }) }) as unknown as Docker;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "crucible-configure-"));
    runsc = await fakeRunsc("runsc", ["network string", "nvproxy", "oci-seccomp", "platform string", "pod-init-config string"]);
  });

  it("adds <gpu runtime>-monitored-k: the registered GPU runtime's path and arguments with channel k's trace configuration", async () => {
    const daemonJson = path.join(dir, "daemon.json");
    const gpuEntry = { path: runsc, runtimeArgs: gpuArgs };
    await writeFile(daemonJson, JSON.stringify({ "log-level": "warn", runtimes: { "runsc-nvproxy": gpuEntry } }));
    const first = configure(daemonJson, 3);
    expect(first).toMatch(/registered runsc-nvproxy-monitored-0, runsc-nvproxy-monitored-1 and runsc-nvproxy-monitored-2 \(the GPU/);
    expect(first.trimEnd().split("\n").at(-1)).toBe("changed");
    const runtimes = await readRuntimes(daemonJson);
    expect(JSON.parse(await readFile(daemonJson, "utf8"))["log-level"]).toBe("warn");
    expect(runtimes["runsc-nvproxy"]).toEqual(gpuEntry);
    for (const k of [0, 1, 2]) {
      const traceFile = path.join(dir, "monitoring", `pod-init-${k}.json`);
      expect(runtimes[`runsc-monitored-${k}`]).toEqual({
        path: runsc,
        runtimeArgs: ["--network=none", "--platform=systrap", "--oci-seccomp", `--pod-init-config=${traceFile}`],
      });
      expect(runtimes[`runsc-nvproxy-monitored-${k}`]).toEqual({
        path: runsc,
        runtimeArgs: [...gpuArgs, `--pod-init-config=${traceFile}`],
      });
      const sink = JSON.parse(await readFile(traceFile, "utf8")).trace_session.sinks[0];
      expect(sink.config.endpoint).toBe(`/run/crucible/monitoring/sink-${k}.sock`);
    }
    // Nothing to do the second time; fewer channels remove the surplus GPU variants with the others.
    expect(configure(daemonJson, 3)).not.toMatch(/changed/);
    expect(configure(daemonJson, 2)).toMatch(/removed runsc-monitored-2 and runsc-nvproxy-monitored-2 from/);
    expect(Object.keys(await readRuntimes(daemonJson)).filter((name) => name.includes("nvproxy-monitored"))).toEqual([
      "runsc-nvproxy-monitored-0",
      "runsc-nvproxy-monitored-1",
    ]);

    // Discovery sees each channel's GPU variant; a GPU run on channel k gets runsc-nvproxy-monitored-k.
    const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.gpu.json"));
    const found = await findMonitoringSetup(dockerKnowing(await readRuntimes(daemonJson)), {
      runtime: "runsc",
      gpuRuntime: "runsc-nvproxy",
    });
    expect(found).toEqual({
      ok: true,
      channels: [0, 1].map((k) => ({
        runtime: `runsc-monitored-${k}`,
        gpuRuntime: `runsc-nvproxy-monitored-${k}`,
        podInitConfig: path.join(dir, "monitoring", `pod-init-${k}.json`),
        endpoint: `/run/crucible/monitoring/sink-${k}.sock`,
      })),
    });
    const options = await monitoringFor(
      dockerKnowing(await readRuntimes(daemonJson)),
      path.join(repoRoot, "runner-setup/monitoring-rules.json"),
      policy,
    );
    expect("channels" in options && options.channels.map((c) => c.gpuRuntime)).toEqual([
      "runsc-nvproxy-monitored-0",
      "runsc-nvproxy-monitored-1",
    ]);
    // A policy without GPUs does not look for them.
    const cpuPolicy: SandboxPolicy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
    const cpuOptions = await monitoringFor(
      dockerKnowing(await readRuntimes(daemonJson)),
      path.join(repoRoot, "runner-setup/monitoring-rules.json"),
      cpuPolicy,
    );
    expect("channels" in cpuOptions && cpuOptions.channels.every((c) => c.gpuRuntime === undefined)).toBe(true);
  });

  it("finding the traced GPU runtimes reports each one missing or wrong, with the fix, and keeps the CPU channels", async () => {
    const daemonJson = path.join(dir, "daemon-find.json");
    await writeFile(daemonJson, JSON.stringify({ runtimes: { "runsc-nvproxy": { path: runsc, runtimeArgs: gpuArgs } } }));
    configure(daemonJson, 2);
    const written = await readRuntimes(daemonJson);
    const find = async (change: (runtimes: typeof written) => void) => {
      const runtimes = structuredClone(written);
      change(runtimes);
      const found = await findMonitoringSetup(dockerKnowing(runtimes), { runtime: "runsc", gpuRuntime: "runsc-nvproxy" });
      if (!found.ok) throw new Error(found.reason);
      expect(found.channels.map((c) => c.runtime)).toEqual(["runsc-monitored-0", "runsc-monitored-1"]);
      expect(found.channels.every((c) => c.gpuRuntime === undefined)).toBe(true);
      return found.gpuUnavailable;
    };
    expect(await find((r) => delete r["runsc-nvproxy-monitored-1"])).toBe(
      'Docker has no runtime "runsc-nvproxy-monitored-1" (runsc-nvproxy traced on runsc-monitored-1\'s socket); ' +
        "run runner-setup/setup.sh (runner-setup/MONITORING.md)",
    );
    const otherChannel = written["runsc-nvproxy-monitored-0"]!.runtimeArgs;
    expect(await find((r) => (r["runsc-nvproxy-monitored-1"]!.runtimeArgs = otherChannel))).toMatch(
      /^the runtime "runsc-nvproxy-monitored-1" has the arguments .*-0\.json, not .*-1\.json \(runsc-nvproxy with runsc-monitored-1's/,
    );
    // The GPU runtime's arguments changed after setup: its traced variants would run the old ones.
    expect(await find((r) => r["runsc-nvproxy"]!.runtimeArgs.push("--nvproxy-driver-version=latest"))).toMatch(
      new RegExp(
        '^the runtime "runsc-nvproxy-monitored-0" has the arguments .* --nvproxy --pod-init-config=\\S+, ' +
          "not .* --nvproxy --nvproxy-driver-version=latest --pod-init-config=\\S+ \\(runsc-nvproxy with",
      ),
    );
    // Docker would run a binary found by the runtime's name, or a shim of its own choosing.
    expect(await find((r) => delete (r["runsc-nvproxy-monitored-0"] as { path?: string }).path)).toMatch(
      /^the runtime "runsc-nvproxy-monitored-0" runs \(no path\)/,
    );
    expect(await find((r) => Object.assign(r["runsc-nvproxy-monitored-0"]!, { runtimeType: "io.containerd.runc.v2" }))).toMatch(
      /^the runtime "runsc-nvproxy-monitored-0" has a runtime type or options of its own/,
    );
    // A traced CPU entry that is not the policy's runtime would run monitored sandboxes outside it: no monitoring at all.
    const cpuDrift = structuredClone(written);
    cpuDrift["runsc-monitored-1"]!.path = "/usr/bin/runc";
    expect(await findMonitoringSetup(dockerKnowing(cpuDrift), { runtime: "runsc" })).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^the runtime "runsc-monitored-1" runs \/usr\/bin\/runc, not .*runsc \(runsc with its trace configuration\)/,
      ),
    });
    expect(await find((r) => delete r["runsc-nvproxy"])).toBe(
      'Docker has no GPU runtime "runsc-nvproxy" (runner-setup/GPU.md), so none traced either',
    );
  });

  it("writes no traced GPU runtime, and removes old ones, when the GPU runtime is not registered or its runsc cannot trace", async () => {
    const daemonJson = path.join(dir, "daemon-none.json");
    await writeFile(daemonJson, JSON.stringify({ runtimes: { "runsc-nvproxy": { path: runsc, runtimeArgs: gpuArgs } } }));
    configure(daemonJson, 2);
    const runtimes = await readRuntimes(daemonJson);
    delete runtimes["runsc-nvproxy"];
    await writeFile(daemonJson, JSON.stringify({ runtimes }));
    const output = configure(daemonJson, 2);
    expect(output).toMatch(/removed runsc-nvproxy-monitored-0 and runsc-nvproxy-monitored-1 from/);
    expect(output).toContain(
      `runsc-nvproxy is not registered in ${daemonJson} (runner-setup/GPU.md): sandboxes with GPUs will not be traced`,
    );
    expect(Object.keys(await readRuntimes(daemonJson)).sort()).toEqual(["runsc", "runsc-monitored-0", "runsc-monitored-1"]);

    // A GPU runtime on a runsc without --pod-init-config gets no traced variant.
    const untracing = await fakeRunsc("runsc-untracing", ["network string", "nvproxy"]);
    await writeFile(
      daemonJson,
      JSON.stringify({ runtimes: { ...runtimes, "runsc-nvproxy": { path: untracing, runtimeArgs: ["--network=none", "--nvproxy"] } } }),
    );
    expect(configure(daemonJson, 2)).toContain(
      `${untracing} (the runsc of runsc-nvproxy) has no --pod-init-config: sandboxes with GPUs will not be traced`,
    );
    expect(Object.keys(await readRuntimes(daemonJson)).some((name) => name.includes("nvproxy-monitored"))).toBe(false);
  });
});
