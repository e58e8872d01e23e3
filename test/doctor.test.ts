// The host doctor: its table and verdict logic on made-up check outcomes; runsc version and flag
// detection on the installed build and on a newer build's output; GPU checks on what they produce (no
// GPU here); and the whole doctor, and a run's refusal, against the real daemon and runsc, directly and
// through a Docker endpoint that makes the host half-configured.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkRuntimeArgs,
  chooseRuntimeArgs,
  doctorExitCode,
  formatTable,
  loadPolicy,
  parseRunscFlags,
  parseRunscPlatforms,
  parseRunscVersion,
  parseSupportedDrivers,
  probeRunsc,
  refusalMessage,
  runChecks,
  safetyFailures,
  type Check,
  type DoctorReport,
} from "../actions/lib/src/index.js";
import {
  buildContainerConfig,
  checkGpuRuntime,
  checkGpuVisible,
  judgeRuntimeArgs,
  probeRunscCached,
  probeSpec,
  type GpuProbes,
} from "../actions/lib/src/docker/index.js";
import { startDockerProxy, type DockerProxy } from "./support/docker-proxy.js";
import { binDir, cliBin, experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

function crucible(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(path.join(binDir, "node"), [cliBin, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** As crucible() but without blocking this process, which serves the Docker proxy the CLI talks to. */
function crucibleAsync(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(binDir, "node"), [cliBin, ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A newer runsc's `runsc flags` (abridged, in Go's format) for a build this host does not have. */
const NEWER_FLAGS = ["network value", "platform string", "oci-seccomp", "nvproxy", "nvproxy-docker", "directfs", "overlay2 value"]
  .map((f) => `  -${f}\n    \tusage text`)
  .join("\n");

/** An executable that answers like runsc of the given release (a stand-in at the process boundary). */
async function fakeRunsc(version: string, options: { drivers?: string[] } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-fake-runsc-"));
  await writeFile(path.join(dir, "flags.txt"), `${NEWER_FLAGS}\n`);
  await writeFile(path.join(dir, "drivers.txt"), `${(options.drivers ?? []).join("\n")}\n`);
  const script = [
    "#!/bin/sh",
    `here="$(dirname "$0")"`,
    `echo "$1" >> "$here/calls.txt"`,
    `case "$1" in`,
    `  --version) echo "runsc version ${version}"; echo "spec: 1.1.0" ;;`,
    `  flags) cat "$here/flags.txt" >&2 ;;`,
    `  help) printf 'kvm\\nptrace\\nsystrap\\n' ;;`,
    `  nvproxy) [ -s "$here/drivers.txt" ] || { echo "unknown subcommand" >&2; exit 2; }; cat "$here/drivers.txt" ;;`,
    `  *) exit 2 ;;`,
    "esac",
  ].join("\n");
  const file = path.join(dir, "runsc");
  await writeFile(file, `${script}\n`);
  await chmod(file, 0o755);
  return file;
}

describe("runsc version and flags", () => {
  it("reads the installed Debian build: version, flags, platforms, and the arguments chosen for it", async () => {
    const runsc = await probeRunsc("/usr/bin/runsc");
    expect(runsc.version).toBe("0.0~20221219.0");
    expect(runsc.date).toBe("20221219");
    expect(runsc.flags.has("network")).toBe(true);
    expect(runsc.flags.has("oci-seccomp")).toBe(true);
    expect(runsc.flags.has("nvproxy")).toBe(false);
    expect(runsc.platforms).toEqual(expect.arrayContaining(["ptrace", "kvm"]));
    expect(runsc.platforms).not.toContain("systrap");
    const chosen = chooseRuntimeArgs(runsc, { gpu: false });
    expect(chosen.args).toEqual(["--network=none"]);
    expect(chosen.missing).toEqual([]);
    // A GPU runtime cannot be made from this build.
    expect(chooseRuntimeArgs(runsc, { gpu: true }).missing).toEqual(["--nvproxy: runsc 0.0~20221219.0 has no --nvproxy"]);
  });

  it("runs reuse runsc's findings for an unchanged binary (private folder); a changed one or a broken cache is probed", async () => {
    const binary = await fakeRunsc("release-20250512.0");
    const calls = async () => (await readFile(path.join(path.dirname(binary), "calls.txt"), "utf8")).split("\n").filter(Boolean).length;
    const cacheDir = path.join(await mkdtemp(path.join(os.tmpdir(), "crucible-runsc-cache-")), "runsc");
    const first = await probeRunscCached(binary, cacheDir);
    expect(await calls()).toBe(3);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    expect(await probeRunscCached(binary, cacheDir)).toEqual(first);
    expect(await calls()).toBe(3);
    // An upgrade in place (same path, same inode, same size) is a changed file: probed again.
    await writeFile(binary, (await readFile(binary, "utf8")).replace("release-20250512.0", "release-20250601.0"));
    expect((await probeRunscCached(binary, cacheDir)).version).toBe("release-20250601.0");
    expect(await calls()).toBe(6);
    // A broken entry is not trusted and does not fail the check.
    for (const entry of await readdir(cacheDir)) await writeFile(path.join(cacheDir, entry), "{not json");
    expect((await probeRunscCached(binary, cacheDir)).flags).toEqual(first.flags);
    expect(await calls()).toBe(9);
    // A folder others may write is not used at all.
    await chmod(cacheDir, 0o777);
    await probeRunscCached(binary, cacheDir);
    await probeRunscCached(binary, cacheDir);
    expect(await calls()).toBe(15);
  });

  it("chooses systrap, --oci-seccomp and nvproxy for newer builds, --nvproxy-docker only before 20240305", async () => {
    const v2025 = await probeRunsc(await fakeRunsc("release-20250512.0"));
    expect(v2025.version).toBe("release-20250512.0");
    expect(chooseRuntimeArgs(v2025, { gpu: false }).args).toEqual(["--network=none", "--platform=systrap", "--oci-seccomp"]);
    expect(chooseRuntimeArgs(v2025, { gpu: true }).args).toEqual(["--network=none", "--platform=systrap", "--oci-seccomp", "--nvproxy"]);
    const v2023 = { ...v2025, version: "release-20231106.0", date: "20231106" };
    expect(chooseRuntimeArgs(v2023, { gpu: true }).args).toEqual([
      "--network=none",
      "--platform=systrap",
      "--oci-seccomp",
      "--nvproxy",
      "--nvproxy-docker",
    ]);
  });

  it("parses version lines and refuses what it does not recognise", () => {
    expect(parseRunscVersion("runsc version release-20240807.0\nspec: 1.1.0-rc.1\n")).toEqual({
      version: "release-20240807.0",
      date: "20240807",
    });
    expect(parseRunscVersion("runsc version 0.0~20221219.0\n")).toEqual({ version: "0.0~20221219.0", date: "20221219" });
    expect(parseRunscVersion("runsc version abcdef\n")).toEqual({ version: "abcdef" });
    expect(() => parseRunscVersion("bash: runsc: command not found")).toThrow(/unrecognised `runsc --version` output/);
    expect([...parseRunscFlags("  -network value\n    \tspecifies\n  -debug\n    \tenable\nnot-a-flag\n")]).toEqual(["network", "debug"]);
    expect(parseRunscPlatforms("kvm\nptrace\nsystrap\n")).toEqual(["kvm", "ptrace", "systrap"]);
    expect(parseSupportedDrivers("535.129.03\n550.90.12\nfoo\n")).toEqual(["535.129.03", "550.90.12"]);
  });

  it("judges configured arguments: unknown flags and a missing --network=none fail, missing extras warn", async () => {
    const debian = await probeRunsc("/usr/bin/runsc");
    expect(judgeRuntimeArgs(["--network=none"], debian, { gpu: false }).status).toBe("pass");
    const unknown = judgeRuntimeArgs(["--network=none", "--directfs=false"], debian, { gpu: false });
    expect(unknown).toMatchObject({ status: "fail", result: expect.stringContaining("does not know --directfs=false") });
    expect(unknown.fix).toContain("npm run setup");
    const noNetworkNone = judgeRuntimeArgs([], debian, { gpu: false });
    expect(noNetworkNone).toMatchObject({ status: "fail", result: expect.stringContaining("--network=none missing") });
    const newer = await probeRunsc(await fakeRunsc("release-20250512.0"));
    expect(judgeRuntimeArgs(["--network=none"], newer, { gpu: false })).toMatchObject({
      status: "warn",
      result: expect.stringContaining("also offers --platform=systrap --oci-seccomp"),
    });
    expect(checkRuntimeArgs(["-network=none", "--oci-seccomp=true", "--platform=systrap"], newer, { gpu: false })).toMatchObject({
      unknown: [],
      missingRequired: [],
      missingRecommended: [],
    });
  });
});

describe("doctor verdict and table", () => {
  const check = (id: string, safety: boolean, outcome: Awaited<ReturnType<Check<null>["run"]>> | Error, needs?: string[]): Check<null> => ({
    id,
    title: `check ${id}`,
    safety,
    ...(needs ? { needs } : {}),
    run: async () => {
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  });

  it("passes a host whose checks pass, warn or do not apply", async () => {
    const report = await runChecks(
      [
        check("a", true, { status: "pass", result: "fine" }),
        check("b", false, { status: "warn", result: "low", fix: "free space" }),
        check("gpu", true, { status: "skip", result: "no GPUs" }),
        check("gpu2", true, { status: "skip", result: "no GPUs" }, ["gpu"]),
      ],
      null,
    );
    expect(report.ok).toBe(true);
    expect(doctorExitCode(report)).toBe(0);
    // A check whose prerequisite does not apply still runs (and decides for itself).
    expect(report.checks.find((c) => c.id === "gpu2")).toMatchObject({ status: "skip", result: "no GPUs" });
    expect(report.checks.find((c) => c.id === "gpu2")!.blocked).toBeUndefined();
    expect(refusalMessage(report)).toBe("");
  });

  it("skips what depends on a failed check, counts a blocked safety check as a failure, and turns a thrown error into a row", async () => {
    const seen: string[] = [];
    const report = await runChecks(
      [
        check("daemon", true, { status: "fail", result: "not reachable", fix: "start dockerd" }),
        check("runsc", true, { status: "pass", result: "never run" }, ["daemon"]),
        check("kernel", true, { status: "pass", result: "never run" }, ["runsc"]),
        check("disk", false, new Error("statfs: EACCES")),
      ],
      null,
      (r) => seen.push(r.id),
    );
    expect(seen).toEqual(["daemon", "runsc", "kernel", "disk"]);
    expect(report.ok).toBe(false);
    expect(doctorExitCode(report)).toBe(1);
    expect(report.checks.map((c) => [c.id, c.status, c.blocked ?? false])).toEqual([
      ["daemon", "fail", false],
      ["runsc", "skip", true],
      ["kernel", "skip", true],
      ["disk", "fail", false],
    ]);
    expect(report.checks[2]!.result).toBe('not checked: "check runsc" did not pass');
    expect(report.checks[3]!.result).toBe("the check itself failed: statfs: EACCES");
    expect(safetyFailures(report).map((c) => c.id)).toEqual(["daemon", "runsc", "kernel"]);
    // The refusal quotes the failed rows with their fix, not the rows that merely could not run.
    expect(refusalMessage(report)).toMatch(
      /safety checks.*\n {2}check daemon: not reachable — fix: start dockerd\nRun `npx crucible doctor`/,
    );
    const table = formatTable(report);
    expect(table).toMatch(/^FAIL {2}check daemon {2}not reachable$/m);
    expect(table).toMatch(/^ {6}\s+fix: start dockerd$/m);
    expect(table).toMatch(/^skip {2}check kernel {2}not checked/m);
    expect(table).toContain("host is NOT fit: 0 passed, 0 warning(s), 2 failed, 2 skipped");
  });

  it("a failed check that is not safety-relevant fails the doctor but does not refuse runs", async () => {
    const report: DoctorReport = await runChecks(
      [check("images", false, { status: "fail", result: "not built", fix: "crucible image build" })],
      null,
    );
    expect(report.ok).toBe(false);
    expect(refusalMessage(report)).toBe("");
  });
});

describe("GPU checks (configuration only: no GPU on this machine)", () => {
  const gpuPolicy = () => loadPolicy(path.join(repoRoot, "runner-setup", "policy.gpu.json"));
  const probes = (overrides: Partial<GpuProbes>): GpuProbes => ({
    driverVersion: async () => "550.90.12",
    listGpus: async () => ["0", "1"],
    supportedDrivers: async () => ["535.129.03", "550.90.12"],
    gpuInSandbox: async () => {
      throw new Error("not expected");
    },
    ...overrides,
  });

  it("needs the nvproxy runtime registered, with arguments its build accepts, and a driver its nvproxy supports", async () => {
    const policy = await gpuPolicy();
    const runsc = await fakeRunsc("release-20250512.0", { drivers: ["535.129.03", "550.90.12"] });
    const registered = (args: string[]) => ({
      Runtimes: { runsc: { path: "/usr/bin/runsc" }, "runsc-nvproxy": { path: runsc, runtimeArgs: args } },
    });
    const good = ["--network=none", "--platform=systrap", "--oci-seccomp", "--nvproxy"];
    expect(await checkGpuRuntime({ info: { Runtimes: {} }, policy, gpu: probes({}) })).toMatchObject({
      status: "fail",
      result: 'the GPU runtime "runsc-nvproxy" is not registered with Docker',
    });
    expect(await checkGpuRuntime({ info: registered(["--network=none"]), policy, gpu: probes({}) })).toMatchObject({
      status: "fail",
      result: expect.stringContaining("--nvproxy missing"),
    });
    expect(await checkGpuRuntime({ info: registered(good), policy, gpu: probes({}) })).toMatchObject({
      status: "pass",
      result: expect.stringContaining("driver 550.90.12 supported by nvproxy"),
    });
    const unsupported = await checkGpuRuntime({
      info: registered(good),
      policy,
      gpu: probes({ driverVersion: async () => "550.54.15\n" }),
    });
    expect(unsupported).toMatchObject({
      status: "fail",
      result: expect.stringContaining("driver 550.54.15 is not one runsc release-20250512.0's nvproxy supports (same branch: 550.90.12)"),
    });
    expect(unsupported.fix).toContain("runsc nvproxy list-supported-drivers");
    // The real probe against the fake build's `runsc nvproxy list-supported-drivers`.
    const { supportedDrivers } = await import("../actions/lib/src/index.js");
    expect(await supportedDrivers(runsc)).toEqual(["535.129.03", "550.90.12"]);
    expect(
      await checkGpuRuntime({
        info: registered(good),
        policy,
        gpu: probes({ driverVersion: async () => Promise.reject(new Error("nvidia-smi: not found")) }),
      }),
    ).toMatchObject({
      status: "fail",
      result: "no NVIDIA driver answers: nvidia-smi: not found",
    });
    // The installed 2022 build cannot be a GPU runtime at all.
    const debian = { Runtimes: { "runsc-nvproxy": { path: "/usr/bin/runsc", runtimeArgs: ["--network=none", "--nvproxy"] } } };
    expect(await checkGpuRuntime({ info: debian, policy, gpu: probes({}) })).toMatchObject({
      status: "fail",
      result: expect.stringContaining("does not know --nvproxy"),
    });
  });

  it("sees a GPU inside the sandbox only when nvidia-smi lists one there", async () => {
    const exited = (exitCode: number) => ({
      outcome: "exited" as const,
      exitCode,
      detail: `The program exited with code ${exitCode}.`,
      appliedConfig: {},
      sandboxId: "x",
    });
    const asked: string[] = [];
    const visible = await checkGpuVisible(
      probes({ gpuInSandbox: async (id) => (asked.push(id), { result: exited(0), output: "GPU 0: NVIDIA L4 (UUID: GPU-1234)\n" }) }),
    );
    expect(visible).toEqual({ status: "pass", result: "GPU 0 inside the sandbox: GPU 0: NVIDIA L4 (UUID: GPU-1234)" });
    expect(asked).toEqual(["0"]);
    expect(
      await checkGpuVisible(probes({ gpuInSandbox: async () => ({ result: exited(9), output: "NVIDIA-SMI has failed" }) })),
    ).toMatchObject({ status: "fail", fix: expect.stringContaining("nvidia-container-toolkit") });
    expect(await checkGpuVisible(probes({ listGpus: async () => [] }))).toMatchObject({
      status: "fail",
      result: "nvidia-smi lists no GPU on the host",
    });
  });

  it("gives the GPU probe sandbox the nvproxy runtime and the device, under the same hardening as runs", async () => {
    const policy = await gpuPolicy();
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-doctor-spec-"));
    const spec = await probeSpec({ policy, imagesDir }, { memoryBytes: 512 * 1024 * 1024, gpuDeviceIds: ["1"], programDir: dir });
    const config = buildContainerConfig(spec, ["nvidia-smi", "-L"], dir);
    expect(config.HostConfig).toMatchObject({
      Runtime: "runsc-nvproxy",
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      DeviceRequests: [{ Driver: "nvidia", DeviceIDs: ["1"], Capabilities: [["gpu", "compute", "utility"]] }],
    });
    expect(config.Labels).toMatchObject({ "crucible.managed": "true", "crucible.owner.pid": String(process.pid) });
  });
});

describe("crucible doctor on this host (real Docker and runsc)", () => {
  let proxy: DockerProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  const withRunsc = (runtime: Record<string, unknown> | undefined) => (info: Record<string, unknown>) => {
    const runtimes = { ...(info.Runtimes as Record<string, unknown>) };
    if (runtime) runtimes.runsc = runtime;
    else delete runtimes.runsc;
    return { ...info, Runtimes: runtimes };
  };

  it("passes every check, each row with its finding (CI runs this)", () => {
    const run = crucible(["doctor", "--json"]);
    const report = JSON.parse(run.stdout) as DoctorReport;
    const row = (id: string) => report.checks.find((c) => c.id === id)!;
    expect(
      report.checks.filter((c) => c.status === "fail"),
      run.stdout,
    ).toEqual([]);
    expect(run.code).toBe(0);
    expect(report.ok).toBe(true);
    expect(row("runsc-version").result).toMatch(/^runsc 0\.0~20221219\.0: \d+ flags/);
    expect(row("runsc-args")).toMatchObject({ status: "pass", result: expect.stringContaining("--network=none") });
    expect(row("sandbox-kernel")).toMatchObject({ status: "pass", result: expect.stringContaining("Starting gVisor") });
    expect(row("network")).toMatchObject({
      status: "pass",
      result: expect.stringMatching(/^interfaces: lo; tcp 192\.0\.2\.1:80 → E\w+, udp 1\.1\.1\.1:53 → E\w+$/),
    });
    expect(row("writable")).toMatchObject({ status: "pass", result: expect.stringContaining("/output written and read back on the host") });
    expect(row("pids")).toMatchObject({
      status: "pass",
      result: expect.stringMatching(/^fork refused \(EAGAIN\) after \d+ children under an nproc limit of 16$/),
    });
    expect(row("memory")).toMatchObject({ status: "pass", result: expect.stringMatching(/^stopped at \d+ MiB of a 128 MiB limit/) });
    expect(row("gpu-runtime")).toMatchObject({ status: "skip", result: "this runner's policy allows no GPUs" });
    expect(row("gpu-visible")).toMatchObject({ status: "skip", result: "this runner's policy allows no GPUs" });
    // The execve of the probe's /bin/true came through the trace socket (monitoring/doctor.ts).
    expect(row("monitoring")).toMatchObject({
      status: "pass",
      result: expect.stringMatching(
        new RegExp(
          String.raw`^runsc-monitored-\d+ traced the probe sandbox \(\d+ trace messages, the execve of /bin/true among them\); ` +
            String.raw`\d+ traced runtimes for up to 4 sandboxes at once$`,
        ),
      ),
    });
  }, 300_000);

  it("fails naming the fix when runsc is not registered, and `crucible run` refuses with the same message and writes nothing", async () => {
    proxy = await startDockerProxy(withRunsc(undefined));
    const doctor = await crucibleAsync(["doctor"], { DOCKER_HOST: proxy.dockerHost });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(
      /^FAIL {2}runsc registered with Docker\s+the runtime "runsc" is not registered \(registered: [^)]*\); runs would have no gVisor$/m,
    );
    expect(doctor.stdout).toMatch(/^\s+fix: run `npm run setup`/m);
    expect(doctor.stdout).toMatch(
      /^skip {2}a sandbox starts under gVisor\s+not checked: "runtime arguments valid for this runsc" did not pass$/m,
    );
    expect(doctor.stdout).toContain("host is NOT fit");

    const file = await makeExperiment("unfit-host", {
      "experiment.yaml": experimentYaml("unfit-host"),
      "main.py": "print('must not run')\n",
    });
    const run = await crucibleAsync(["run", file], { DOCKER_HOST: proxy.dockerHost });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "crucible: this host failed the host doctor's safety checks, so nothing runs on it (no fallback to an unsandboxed runtime):",
    );
    expect(run.stderr).toContain('runsc registered with Docker: the runtime "runsc" is not registered');
    expect(run.stdout).not.toContain("must not run");
    expect(existsSync(path.join(path.dirname(file), "results"))).toBe(false);
  }, 120_000);

  it("fails runtime arguments the installed runsc rejects, and a registration without --network=none", async () => {
    proxy = await startDockerProxy(withRunsc({ path: "/usr/bin/runsc", runtimeArgs: ["--network=none", "--nvproxy"] }));
    const unknown = await crucibleAsync(["doctor", "--json"], { DOCKER_HOST: proxy.dockerHost });
    expect(unknown.code).toBe(1);
    const row = (JSON.parse(unknown.stdout) as DoctorReport).checks.find((c) => c.id === "runsc-args")!;
    expect(row).toMatchObject({
      status: "fail",
      safety: true,
      result: "runsc 0.0~20221219.0 does not know --nvproxy (configured: --network=none --nvproxy); every sandbox start fails",
    });
    expect(row.fix).toContain("(for this build: --network=none)");
    await proxy.close();

    proxy = await startDockerProxy(withRunsc({ path: "/usr/bin/runsc" }));
    const file = await makeExperiment("no-network-none", {
      "experiment.yaml": experimentYaml("no-network-none"),
      "main.py": "print('must not run')\n",
    });
    const run = await crucibleAsync(["run", file], { DOCKER_HOST: proxy.dockerHost });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "runtime arguments valid for this runsc: --network=none missing (configured: (none)); it " +
        "is what keeps a network stack out of the sandbox",
    );
  }, 120_000);

  /** The doctor's report with DOCKER_HOST pointing at a daemon it cannot use: it must fail. */
  function failingDoctor(dockerHost: string): DoctorReport {
    const doctor = crucible(["doctor", "--json"], { DOCKER_HOST: dockerHost });
    expect(doctor.code).toBe(1);
    return JSON.parse(doctor.stdout) as DoctorReport;
  }

  it("names the daemon when it is down, and checks nothing that needs it", () => {
    const report = failingDoctor(`unix://${path.join(os.tmpdir(), "no-such-dockerd.sock")}`);
    expect(report.checks[0]).toMatchObject({
      id: "docker",
      status: "fail",
      result: expect.stringContaining("not reachable"),
      fix: expect.stringContaining("npm run setup"),
    });
    expect(report.checks.filter((c) => c.status !== "skip").map((c) => c.id)).toEqual(["docker"]);
  }, 60_000);

  it("says that Docker over ssh:// is left out of the bundle (its 0.6 MB would load on every run)", () => {
    const report = failingDoctor("ssh://nobody@127.0.0.1");
    expect(report.checks[0]).toMatchObject({
      id: "docker",
      status: "fail",
      result: expect.stringContaining("ssh2 (Docker over ssh://) is left out"),
    });
  }, 60_000);
});
