import { execFile } from "node:child_process";
import { lstat, mkdtemp, readFile, readdir, rm, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import {
  HostUnfitError,
  refusalMessage,
  runChecks,
  type Check,
  type CheckOutcome,
  type CheckResult,
  type DoctorReport,
} from "../doctor/doctor.js";
import { checkRuntimeArgs, probeRunsc, supportedDrivers, type RunscCapabilities } from "../doctor/runsc.js";
import { MEMORY_PROGRAM, PROBE_PROGRAM } from "../doctor/sandbox-probe.js";
import { errorMessage } from "../errors.js";
import { listGpus } from "../gpu.js";
import { checkMonitoring } from "../monitoring/doctor.js";
import { currentProcess, ownerLabels } from "../owner.js";
import { gpuRuntimeOf, type SandboxPolicy, type SandboxSpec } from "../policy.js";
import { MANAGED_LABEL, RUN_ID_LABEL, type ExecResult, type Sandbox } from "../sandbox/sandbox.js";
import { formatBytes } from "../units.js";
import { ensureImage, inspectImageOrUndefined, readRecipe } from "./image.js";
import { monitoringFor } from "./monitoring.js";
import { probeRunscCached } from "./runsc-cache.js";
import { DockerSandboxProvider, SETUP_HINT } from "./provider.js";

const execFileAsync = promisify(execFile);

/** Below these, runs fail for want of space (an artifact, an image layer, a log): fail; warn below the second. */
export const DISK_FAIL_BYTES = 1024 ** 3;
export const DISK_WARN_BYTES = 5 * 1024 ** 3;
/** The image the doctor's probes run in. */
const PROBE_IMAGE = "base";
/** The doctor's sandboxes: small, short, and with a process limit low enough to reach quickly. */
const PROBE_NPROC = 16;
const PROBE_MEMORY_BYTES = 128 * 1024 * 1024;
const PROBE_TIMEOUT_MS = 90_000;
/** The probe writes one short file to /output. */
const PROBE_OUTPUT_BYTES = 1024 * 1024;
/** Writable inside the sandbox without reaching the host: gVisor's own in-memory file systems. */
const SANDBOX_MEMORY_FS = new Set(["tmpfs"]);

export interface DockerRuntime {
  path?: string;
  runtimeArgs?: string[];
}

export interface DockerInfo {
  ServerVersion?: string;
  Runtimes?: Record<string, DockerRuntime>;
  CgroupVersion?: string;
  CgroupDriver?: string;
  MemoryLimit?: boolean;
  SwapLimit?: boolean;
  PidsLimit?: boolean;
  DockerRootDir?: string;
}

/** What the host-fit check read that the run's provider needs too (DockerSandboxProvider.adoptHostFindings): read once per run. */
export interface HostFindings {
  runtimes: Record<string, DockerRuntime>;
  /** The version of the runsc Docker names for the policy's runtime. */
  runscVersion?: string;
}

/** What the GPU checks read from the host; replaced in unit tests (there is no GPU here). */
export interface GpuProbes {
  /** Driver version as nvidia-smi reports it. */
  driverVersion(): Promise<string>;
  /** Device indexes. */
  listGpus(): Promise<string[]>;
  /** Driver versions the runsc at this path supports with nvproxy. */
  supportedDrivers(runscPath: string): Promise<string[]>;
  /** Runs `nvidia-smi -L` in a sandbox holding the given device; returns its output. */
  gpuInSandbox(deviceId: string): Promise<{ result: ExecResult; output: string }>;
}

export interface HostContext {
  docker: Docker;
  policy: SandboxPolicy;
  imagesDir: string;
  /** Where stage artifacts go (its file system's free space is checked). */
  artifactStore: string;
  /** Host folder for the doctor's sandboxes' /output (as runs use $RUNNER_TEMP or the temp folder). */
  scratchRoot: string;
  gpu: GpuProbes;
  /** The behaviour-monitoring rules file (runner-setup/monitoring-rules.json); without it that row is skipped. */
  monitoringRules?: string;
  /** Reads what the installed runsc can do: every run reuses the findings for an unchanged binary, the full doctor reads them afresh. */
  probeRunsc: (binary: string) => Promise<RunscCapabilities>;
  /** Docker's /info as the caller asked for it (DoctorOptions.dockerInfo). */
  dockerInfo?: Promise<DockerInfo>;
  /** Findings shared between checks. */
  info?: DockerInfo;
  runsc?: RunscCapabilities;
  probe?: ProbeFindings;
}

interface ProbeFindings {
  result: ExecResult;
  kernel?: { release: string; dmesg: string[] };
  network?: { interfaces: string[]; attempts: Record<string, string> };
  writable?: { path: string; fstype: string }[];
  processes?: { forked: number; error: string | null };
  hostSawOutput: boolean;
  stderr: string;
}

const pass = (result: string): CheckOutcome => ({ status: "pass", result });
const fail = (result: string, fix: string): CheckOutcome => ({ status: "fail", result, fix });
const warn = (result: string, fix: string): CheckOutcome => ({ status: "warn", result, fix });
const skip = (result: string) => ({ status: "skip" as const, result });

const REGISTER_FIX =
  "run `npm run setup` (runner-setup/setup.sh): it registers runsc in /etc/docker/daemon.json with runtime " +
  "arguments chosen for the installed build and reloads dockerd";

/** Checks that read the host's configuration only: quick enough for every run (`quick`), and the first rows of the full doctor. */
function configurationChecks(): Check<HostContext>[] {
  return [
    {
      id: "docker",
      title: "Docker daemon reachable",
      safety: true,
      async run(ctx) {
        try {
          // /info answers only from a reachable daemon, so no _ping before it.
          ctx.info = await (ctx.dockerInfo ?? (ctx.docker.info() as Promise<DockerInfo>));
        } catch (error) {
          return fail(`not reachable: ${errorMessage(error)}`, SETUP_HINT);
        }
        return pass(`Docker ${ctx.info.ServerVersion ?? "(version unknown)"}`);
      },
    },
    {
      id: "runsc-registered",
      title: "runsc registered with Docker",
      safety: true,
      needs: ["docker"],
      async run(ctx) {
        const runtimes = ctx.info!.Runtimes ?? {};
        const entry = runtimes[ctx.policy.runtime];
        if (!entry) {
          return fail(
            `the runtime "${ctx.policy.runtime}" is not registered (registered: ` +
              `${Object.keys(runtimes).join(", ") || "none"}); runs would have no gVisor`,
            REGISTER_FIX,
          );
        }
        return pass(`"${ctx.policy.runtime}" → ${entry.path ?? ctx.policy.runtime}`);
      },
    },
    {
      id: "runsc-version",
      title: "runsc version and flags",
      safety: true,
      needs: ["runsc-registered"],
      async run(ctx) {
        const binary = ctx.info!.Runtimes![ctx.policy.runtime]!.path ?? ctx.policy.runtime;
        try {
          ctx.runsc = await ctx.probeRunsc(binary);
        } catch (error) {
          return fail(
            `Docker names ${binary}, which cannot be run here: ${errorMessage(error)}`,
            "apt-get install runsc (or fix the path in /etc/docker/daemon.json), then `npm run setup`",
          );
        }
        return pass(
          `runsc ${ctx.runsc.version}: ${ctx.runsc.flags.size} flags, platforms ${ctx.runsc.platforms.join(", ") || "not listed"}`,
        );
      },
    },
    {
      id: "runsc-args",
      title: "runtime arguments valid for this runsc",
      safety: true,
      needs: ["runsc-version"],
      async run(ctx) {
        return judgeRuntimeArgs(ctx.info!.Runtimes![ctx.policy.runtime]!.runtimeArgs ?? [], ctx.runsc!, { gpu: false });
      },
    },
    {
      id: "cgroups",
      title: "cgroups: memory and pids limits",
      safety: true,
      needs: ["docker"],
      async run(ctx) {
        const info = ctx.info!;
        const version = `cgroup v${info.CgroupVersion ?? "?"} (${info.CgroupDriver ?? "unknown"} driver)`;
        const missing = [
          info.MemoryLimit === false && "memory limits",
          info.SwapLimit === false && "swap limits",
          info.PidsLimit === false && "pids limits",
        ].filter(Boolean);
        if (missing.length > 0) {
          return fail(
            `${version}: the kernel does not support ${missing.join(", ")}, so sandboxes would ` +
              `not be held to their memory or process limits`,
            "enable the memory and pids cgroup controllers (kernel command line `cgroup_enable=memory " +
              "swapaccount=1`, or cgroup v2) and restart dockerd",
          );
        }
        return pass(`${version}; memory, swap and pids limits supported`);
      },
    },
    {
      id: "gpu-runtime",
      title: "GPU: nvproxy runtime and driver",
      safety: true,
      needs: ["docker"],
      async run(ctx) {
        if (!gpuRuntimeOf(ctx.policy)) return skip("this runner's policy allows no GPUs");
        return checkGpuRuntime(ctx);
      },
    },
  ];
}

export function judgeRuntimeArgs(configured: string[], runsc: RunscCapabilities, options: { gpu: boolean }): CheckOutcome {
  const { unknown, missingRequired, missingRecommended, chosen } = checkRuntimeArgs(configured, runsc, options);
  const shown = configured.length ? configured.join(" ") : "(none)";
  if (unknown.length > 0) {
    return fail(
      `runsc ${runsc.version} does not know ${unknown.join(" ")} (configured: ${shown}); every sandbox start fails`,
      `${REGISTER_FIX} (for this build: ${chosen.args.join(" ")})`,
    );
  }
  if (missingRequired.length > 0) {
    return fail(
      `${missingRequired.join(" ")} missing (configured: ${shown}); it is what keeps a network stack out of the sandbox`,
      `${REGISTER_FIX} (for this build: ${chosen.args.join(" ")})`,
    );
  }
  if (chosen.missing.length > 0)
    return fail(`runsc ${runsc.version} cannot provide ${chosen.missing.join("; ")}`, "install a newer runsc (runner-setup/GPU.md)");
  if (missingRecommended.length > 0) {
    return warn(
      `${shown}; runsc ${runsc.version} also offers ${missingRecommended.join(" ")}`,
      `${REGISTER_FIX} (for this build: ${chosen.args.join(" ")})`,
    );
  }
  return pass(`${shown} (what runner-setup chooses for runsc ${runsc.version})`);
}

export async function checkGpuRuntime(ctx: Pick<HostContext, "info" | "policy" | "gpu">): Promise<CheckOutcome> {
  const name = ctx.policy.gpu!.runtime;
  const entry = ctx.info?.Runtimes?.[name];
  if (!entry)
    return fail(
      `the GPU runtime "${name}" is not registered with Docker`,
      "register runsc with nvproxy as runner-setup/GPU.md says, then re-run `npm run setup` (it adds the traced GPU runtimes)",
    );
  const binary = entry.path ?? "runsc";
  const runsc = await probeRunsc(binary);
  const args = judgeRuntimeArgs(entry.runtimeArgs ?? [], runsc, { gpu: true });
  if (args.status === "fail") return args;
  let driver: string;
  try {
    driver = (await ctx.gpu.driverVersion()).trim();
  } catch (error) {
    return fail(
      `no NVIDIA driver answers: ${errorMessage(error)}`,
      "install the NVIDIA driver at a version nvproxy supports (runner-setup/GPU.md)",
    );
  }
  let supported: string[];
  try {
    supported = await ctx.gpu.supportedDrivers(binary);
  } catch (error) {
    return fail(
      `runsc ${runsc.version} cannot list the drivers its nvproxy supports: ${errorMessage(error)}`,
      "install gVisor release-20240305.0 or newer (runner-setup/GPU.md)",
    );
  }
  if (!supported.includes(driver)) {
    const nearest = supported.filter((v) => v.split(".")[0] === driver.split(".")[0]);
    return fail(
      `driver ${driver} is not one runsc ${runsc.version}'s nvproxy ` +
        `supports${nearest.length ? ` (same branch: ${nearest.slice(-3).join(", ")})` : ""}; GPU sandboxes would fail to start`,
      "pin the host driver to a version listed by `runsc nvproxy list-supported-drivers`, or install a runsc that supports this driver",
    );
  }
  return pass(`"${name}" (${(entry.runtimeArgs ?? []).join(" ")}), runsc ${runsc.version}, driver ${driver} supported by nvproxy`);
}

/** Checks that need Docker's images, the disk, or a real sandbox: the full doctor only. */
function hostChecks(): Check<HostContext>[] {
  return [
    {
      id: "images",
      title: "sandbox images match their recipes",
      safety: false,
      needs: ["docker"],
      async run(ctx) {
        const names = (await readdir(ctx.imagesDir, { withFileTypes: true }))
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .sort();
        // The probes below run in `base`: it is built now when missing or outdated, as a run would build it.
        try {
          await ensureImage(ctx.docker, ctx.imagesDir, PROBE_IMAGE);
        } catch (error) {
          return fail(
            `the ${PROBE_IMAGE} image cannot be built: ${errorMessage(error)}`,
            "`npx crucible image build base` shows the build's log",
          );
        }
        const later: string[] = [];
        for (const name of names) {
          const { ref } = await readRecipe(ctx.imagesDir, name);
          if (!(await inspectImageOrUndefined(ctx.docker, ref))) later.push(`${name} (${ref})`);
        }
        const built = `${names.length - later.length} of ${names.length} image(s) built from their current recipe`;
        // Not a fault: the first run that needs one builds it, once (npx crucible image build does it ahead).
        return pass(
          later.length > 0 ? `${built}; built by the first run that needs it: ${later.join(", ")}` : `${built}: ${names.join(", ")}`,
        );
      },
    },
    {
      id: "disk",
      title: "disk space (artifact store, Docker)",
      safety: false,
      needs: ["docker"],
      async run(ctx) {
        const places = [
          { what: "artifact store", dir: ctx.artifactStore },
          { what: "Docker", dir: ctx.info!.DockerRootDir ?? "/var/lib/docker" },
          { what: "sandbox scratch", dir: ctx.scratchRoot },
        ];
        const found: string[] = [];
        let worst: CheckOutcome["status"] = "pass";
        for (const place of places) {
          const free = await freeBytes(place.dir);
          found.push(`${place.what} ${formatBytes(free.bytes)} free (${free.dir})`);
          if (free.bytes < DISK_FAIL_BYTES) worst = "fail";
          else if (free.bytes < DISK_WARN_BYTES && worst === "pass") worst = "warn";
        }
        const result = found.join("; ");
        if (worst === "pass") return pass(result);
        const fix =
          `free space (below ${formatBytes(DISK_FAIL_BYTES)} runs fail, below ${formatBytes(DISK_WARN_BYTES)} ` +
          `they soon will): \`npx crucible gc --artifacts-older-than 336h\`, remove unused Docker images`;
        return worst === "fail" ? fail(result, fix) : warn(result, fix);
      },
    },
    {
      id: "sandbox-kernel",
      title: "a sandbox starts under gVisor",
      safety: true,
      needs: ["runsc-args"],
      async run(ctx) {
        const probe = (ctx.probe = await runProbe(ctx));
        const dmesg = probe.kernel?.dmesg ?? [];
        if (!probe.kernel)
          return fail(
            `the probe sandbox reported nothing (${probe.result.detail}) ${probe.stderr.slice(0, 300)}`,
            "run `npx crucible run experiments/hello-sandbox/experiment.yaml` to see the runtime's error",
          );
        if (!dmesg.some((line) => line.includes("gVisor"))) {
          return fail(
            `the kernel inside is not gVisor's (uname ${probe.kernel.release}, dmesg: ${dmesg.join(" | ") || "empty"})`,
            REGISTER_FIX,
          );
        }
        return pass(`kernel ${probe.kernel.release}, dmesg: "${dmesg.find((l) => l.includes("gVisor"))!.replace(/^\[[^\]]*\]\s*/, "")}"`);
      },
    },
    {
      id: "network",
      title: "no network inside (loopback only)",
      safety: true,
      needs: ["sandbox-kernel"],
      async run(ctx) {
        const network = ctx.probe!.network;
        if (!network) return fail("the probe did not report its network", "see the sandbox-kernel row");
        const others = network.interfaces.filter((i) => i !== "lo");
        const reached = Object.entries(network.attempts)
          .filter(([, outcome]) => outcome === "reached")
          .map(([target]) => target);
        if (others.length > 0 || reached.length > 0) {
          return fail(
            `interfaces ${network.interfaces.join(", ")}${reached.length ? `; reached ${reached.join(", ")}` : ""}`,
            `${REGISTER_FIX}; sandboxes must be created with NetworkMode none (docker/host-config.ts)`,
          );
        }
        return pass(
          `interfaces: ${network.interfaces.join(", ") || "none"}; ${Object.entries(network.attempts)
            .map(([t, o]) => `${t} → ${o}`)
            .join(", ")}`,
        );
      },
    },
    {
      id: "writable",
      title: "/output is the only writable host path",
      safety: true,
      needs: ["sandbox-kernel"],
      async run(ctx) {
        const { writable, hostSawOutput } = ctx.probe!;
        if (!writable) return fail("the probe did not report writable paths", "see the sandbox-kernel row");
        const hostPaths = writable.filter((w) => !SANDBOX_MEMORY_FS.has(w.fstype));
        const extra = hostPaths.filter((w) => w.path !== "/output");
        if (extra.length > 0)
          return fail(
            `writable besides /output: ${extra.map((w) => `${w.path} (${w.fstype})`).join(", ")}`,
            "sandboxes must have a read-only root and read-only inputs (docker/host-config.ts buildContainerConfig)",
          );
        if (!hostPaths.some((w) => w.path === "/output") || !hostSawOutput) {
          return fail(
            `/output ${hostPaths.length ? "was writable but its file did not reach the host" : "is not writable"}`,
            "check that the scratch folder ($RUNNER_TEMP or the temp folder) is writable by root and mountable (tmpfs)",
          );
        }
        const memory = writable.filter((w) => SANDBOX_MEMORY_FS.has(w.fstype)).map((w) => w.path);
        return pass(`/output written and read back on the host; also writable, in sandbox memory only: ${memory.join(", ") || "nothing"}`);
      },
    },
    {
      id: "pids",
      title: "process limit bites",
      safety: true,
      needs: ["sandbox-kernel"],
      async run(ctx) {
        const processes = ctx.probe!.processes;
        if (!processes) return fail("the probe did not report its fork test", "see the sandbox-kernel row");
        if (processes.error === null || processes.forked >= PROBE_NPROC) {
          return fail(
            `forked ${processes.forked} processes under an nproc limit of ` +
              `${PROBE_NPROC}${processes.error ? ` before ${processes.error}` : " without an error"}`,
            "the runtime ignores RLIMIT_NPROC: check that runsc is the runtime (the sandbox-kernel row) and that Docker passes Ulimits",
          );
        }
        return pass(`fork refused (${processes.error}) after ${processes.forked} children under an nproc limit of ${PROBE_NPROC}`);
      },
    },
    {
      id: "memory",
      title: "memory limit bites",
      safety: true,
      needs: ["sandbox-kernel"],
      async run(ctx) {
        const limitMiB = PROBE_MEMORY_BYTES / 1024 / 1024;
        const { result, reachedMiB, done } = await runMemoryProbe(ctx, limitMiB * 4);
        if (done || reachedMiB > limitMiB) {
          return fail(
            `allocated ${reachedMiB} MiB under a limit of ${limitMiB} MiB (${result.detail})`,
            "Docker did not apply the memory limit: check the cgroups row and that the memory controller is enabled",
          );
        }
        return pass(
          `stopped at ${reachedMiB} MiB of a ${limitMiB} MiB limit: ` +
            `${result.outcome === "oom-killed" ? "killed at the limit" : result.detail}`,
        );
      },
    },
    {
      id: "gpu-visible",
      title: "GPU: visible inside a sandbox",
      safety: true,
      needs: ["gpu-runtime", "sandbox-kernel"],
      async run(ctx) {
        if (!gpuRuntimeOf(ctx.policy)) return skip("this runner's policy allows no GPUs");
        return checkGpuVisible(ctx.gpu);
      },
    },
    {
      id: "monitoring",
      title: "behaviour monitoring traces a sandbox",
      // A run without monitoring still runs in gVisor and records `monitoring: unavailable`.
      safety: false,
      needs: ["sandbox-kernel"],
      async run(ctx) {
        if (!ctx.monitoringRules) return skip("no monitoring rules file given");
        const provider = new DockerSandboxProvider(ctx.policy.runtime, ctx.imagesDir, ctx.docker);
        return checkMonitoring(provider, ctx.policy, await monitoringFor(ctx.docker, ctx.monitoringRules, ctx.policy));
      },
    },
  ];
}

export async function checkGpuVisible(gpu: GpuProbes): Promise<CheckOutcome> {
  const devices = await gpu.listGpus();
  if (devices.length === 0) return fail("nvidia-smi lists no GPU on the host", "check the driver (`nvidia-smi`) and runner-setup/GPU.md");
  const { result, output } = await gpu.gpuInSandbox(devices[0]!);
  const listed = output.split("\n").filter((l) => /^GPU \d+:/.test(l.trim()));
  if (result.outcome !== "exited" || result.exitCode !== 0 || listed.length === 0) {
    return fail(
      `nvidia-smi -L in a sandbox with GPU ${devices[0]}: ${result.detail} ${output.trim().slice(0, 200)}`,
      "check nvidia-container-toolkit (its hook must be on dockerd's PATH) and the nvproxy runtime's arguments (runner-setup/GPU.md)",
    );
  }
  return pass(`GPU ${devices[0]} inside the sandbox: ${listed[0]!.trim()}`);
}

/** Free bytes on the file system holding `dir`, or its nearest existing parent. */
async function freeBytes(dir: string): Promise<{ dir: string; bytes: number }> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const stats = await statfs(current);
      return { dir: current, bytes: stats.bavail * stats.bsize };
    } catch (error) {
      const parent = path.dirname(current);
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === current) throw error;
      current = parent;
    }
  }
}

/** The same spec runs get (docker/host-config.ts buildContainerConfig), scaled down so each limit is reached in seconds. */
export async function probeSpec(
  ctx: Pick<HostContext, "policy" | "imagesDir">,
  options: { memoryBytes: number; gpuDeviceIds?: string[]; programDir: string; image?: string },
): Promise<SandboxSpec> {
  const { ref } = await readRecipe(ctx.imagesDir, options.image ?? PROBE_IMAGE);
  const runId = `doctor-${Date.now()}-${process.pid}`;
  return {
    image: ref,
    policy: { ...ctx.policy, nproc: PROBE_NPROC },
    resources: {
      cpus: 1,
      memoryBytes: options.memoryBytes,
      timeoutSeconds: PROBE_TIMEOUT_MS / 1000,
      gpus: options.gpuDeviceIds?.length ?? 0,
    },
    inputs: [{ relative: "probe.py", hostPath: path.join(options.programDir, "probe.py") }],
    artifacts: [],
    // Unique per probe (mkdtemp's name): the provider names the sandbox's /output folder after it.
    name: path.basename(options.programDir),
    outputBytes: PROBE_OUTPUT_BYTES,
    env: {},
    labels: { [MANAGED_LABEL]: "true", [RUN_ID_LABEL]: runId, ...ownerLabels(await currentProcess()) },
    gpuDeviceIds: options.gpuDeviceIds ?? [],
  };
}

/** Runs a program in a fresh sandbox on this host's real runtime; returns its outcome and output. */
async function inSandbox(
  ctx: HostContext,
  program: string,
  argv: string[],
  options: { memoryBytes: number; gpuDeviceIds?: string[] },
  afterExit?: (sandbox: Sandbox) => Promise<void>,
) {
  const programDir = await mkdtemp(path.join(os.tmpdir(), "crucible-doctor-"));
  try {
    await writeFile(path.join(programDir, "probe.py"), program, { mode: 0o644 });
    const provider = new DockerSandboxProvider(ctx.policy.runtime, ctx.imagesDir, ctx.docker, ctx.scratchRoot);
    const sandbox = await provider.create(
      await probeSpec(ctx, { memoryBytes: options.memoryBytes, gpuDeviceIds: options.gpuDeviceIds, programDir }),
    );
    const chunks: Record<"stdout" | "stderr", Buffer[]> = { stdout: [], stderr: [] };
    try {
      const result = await sandbox.exec(argv, { timeoutMs: PROBE_TIMEOUT_MS, onOutput: (stream, chunk) => chunks[stream].push(chunk) });
      await afterExit?.(sandbox);
      return { result, stdout: Buffer.concat(chunks.stdout).toString("utf8"), stderr: Buffer.concat(chunks.stderr).toString("utf8") };
    } finally {
      await sandbox.cleanup();
    }
  } finally {
    await rm(programDir, { recursive: true, force: true });
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").flatMap((line) => {
    try {
      const value: unknown = JSON.parse(line);
      return value && typeof value === "object" ? [value as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

async function runProbe(ctx: HostContext): Promise<ProbeFindings> {
  let hostSawOutput = false;
  const { result, stdout, stderr } = await inSandbox(
    ctx,
    PROBE_PROGRAM,
    ["python3", "/experiment/probe.py", String(PROBE_NPROC)],
    { memoryBytes: 256 * 1024 * 1024 },
    async (sandbox) => {
      // The probe wrote "probe" to /output/doctor-probe: the host must read back exactly that from the sandbox's output folder.
      // A regular file only (lstat: no link out of the folder, no FIFO to block on), as the run's collection reads /output.
      const file = path.join(sandbox.outputDir, "doctor-probe");
      const stats = await lstat(file).catch(() => undefined);
      hostSawOutput = !!stats?.isFile() && stats.size === 5 && (await readFile(file, "utf8")) === "probe";
    },
  );
  const findings: ProbeFindings = { result, hostSawOutput, stderr };
  for (const line of jsonLines(stdout)) Object.assign(findings, line);
  return findings;
}

async function runMemoryProbe(ctx: HostContext, targetMiB: number) {
  const { result, stdout } = await inSandbox(ctx, MEMORY_PROGRAM, ["python3", "/experiment/probe.py", String(targetMiB)], {
    memoryBytes: PROBE_MEMORY_BYTES,
  });
  const lines = jsonLines(stdout);
  const reachedMiB = Math.max(0, ...lines.map((l) => (typeof l.allocatedMiB === "number" ? l.allocatedMiB : 0)));
  return { result, reachedMiB, done: lines.some((l) => l.done === true) };
}

export interface DoctorOptions {
  docker: Docker;
  policy: SandboxPolicy;
  imagesDir: string;
  artifactStore: string;
  scratchRoot?: string;
  /** Configuration checks only (no sandbox, no image or disk checks): what every run does before it starts. */
  quick?: boolean;
  gpu?: GpuProbes;
  monitoringRules?: string;
  /** Docker's /info when the caller has asked already: a run asks once for this check and monitoring discovery. */
  dockerInfo?: Promise<DockerInfo>;
  onResult?: (result: CheckResult) => void;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  return (await checkHost(options)).report;
}

async function checkHost(options: DoctorOptions): Promise<{ report: DoctorReport; context: HostContext }> {
  const context: HostContext = {
    docker: options.docker,
    policy: options.policy,
    imagesDir: options.imagesDir,
    artifactStore: options.artifactStore,
    scratchRoot: options.scratchRoot ?? process.env.RUNNER_TEMP ?? os.tmpdir(),
    gpu: options.gpu ?? realGpuProbes(options),
    probeRunsc: options.quick ? probeRunscCached : probeRunsc,
    ...(options.monitoringRules ? { monitoringRules: options.monitoringRules } : {}),
    ...(options.dockerInfo ? { dockerInfo: options.dockerInfo } : {}),
  };
  const checks = options.quick ? configurationChecks() : [...configurationChecks(), ...hostChecks()];
  return { report: await runChecks(checks, context, options.onResult), context };
}

function realGpuProbes(options: Pick<DoctorOptions, "docker" | "policy" | "imagesDir">): GpuProbes {
  return {
    async driverVersion() {
      const { stdout } = await execFileAsync("nvidia-smi", ["--query-gpu=driver_version", "--format=csv,noheader"], { timeout: 30_000 });
      return stdout.split("\n")[0]!.trim();
    },
    listGpus: () => listGpus(),
    supportedDrivers,
    async gpuInSandbox(deviceId) {
      const ctx = {
        ...options,
        artifactStore: "",
        scratchRoot: process.env.RUNNER_TEMP ?? os.tmpdir(),
        gpu: undefined as unknown as GpuProbes,
        probeRunsc,
      };
      const { result, stdout, stderr } = await inSandbox(ctx, "", ["nvidia-smi", "-L"], {
        memoryBytes: 512 * 1024 * 1024,
        gpuDeviceIds: [deviceId],
      });
      return { result, output: `${stdout}\n${stderr}` };
    },
  };
}

/**
 * What a run does before it starts: the configuration checks (no sandbox is started), and a refusal
 * with the doctor's own rows when a safety-relevant one fails. The in-sandbox checks are the full
 * doctor's, run by CI and by the runner supervisor between jobs.
 */
export async function assertHostFit(options: Omit<DoctorOptions, "quick" | "onResult">): Promise<HostFindings> {
  const { report, context } = await checkHost({ ...options, quick: true });
  if (refusalMessage(report)) throw new HostUnfitError(report);
  return { runtimes: context.info?.Runtimes ?? {}, ...(context.runsc ? { runscVersion: context.runsc.version } : {}) };
}
