import { execFile } from "node:child_process";
import os from "node:os";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import Docker from "dockerode";
import { SandboxStartError, SandboxUnavailableError, errorMessage } from "../errors.js";
import type { ImageRequest } from "../image-source.js";
import { currentProcess, OWNER_LABELS, ownerState } from "../owner.js";
import { runtimeFor, SANDBOX_OUTPUT, type SandboxSpec } from "../policy.js";
import { cancelledBeforeStart, ended, MANAGED_LABEL, RUN_ID_LABEL } from "../sandbox/sandbox.js";
import type { DockerRuntime, HostFindings } from "./host-checks.js";
import { buildContainerConfig, redactedConfig } from "./host-config.js";
import { ensureImage } from "./image.js";
import { prepareExperimentImage } from "./image-build.js";
import { createScratch, releaseScratch, type Scratch } from "./scratch.js";
import type {
  ImageRef,
  ExecOptions,
  ExecResult,
  OutputStream,
  ReclaimedSandbox,
  ResourceSample,
  RuntimeInfo,
  Sandbox,
  SandboxProvider,
  SandboxStop,
} from "../sandbox/sandbox.js";
import { delay } from "../delay.js";

const execFileAsync = promisify(execFile);

export const SETUP_HINT =
  "Run `npm run setup` (runner-setup/setup.sh): it installs docker.io and runsc and starts dockerd with runsc registered.";

/**
 * Removes a sandbox someone else left behind. With `releaseScratch` (only when its owner is known to be
 * gone: a live owner may still be collecting from it) the scratch space mounted at its /output is freed
 * too, which its owner would have done. Already removed is fine, and so is a removal already in progress
 * (409): two runs starting at once both reclaim the same leftovers.
 */
export async function removeSandbox(docker: Docker, info: Docker.ContainerInfo, options: { releaseScratch: boolean }): Promise<void> {
  await docker
    .getContainer(info.Id)
    .remove({ force: true, v: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
  const output = info.Mounts?.find((m) => m.Destination === SANDBOX_OUTPUT);
  if (options.releaseScratch && output?.Source) await releaseScratch(output.Source, info.Labels[RUN_ID_LABEL] ?? "");
}

/** Sandboxes as Docker containers under gVisor's runsc, created through the Docker socket. */
export class DockerSandboxProvider implements SandboxProvider {
  readonly name = "docker";
  private runtimeInfo: RuntimeInfo | undefined;
  private registered: string[] = [];

  constructor(
    private readonly runtime: string,
    private readonly imagesDir: string,
    readonly docker: Docker = new Docker(),
    /** Where each sandbox's /output folder is made: default $RUNNER_TEMP or the OS temp folder. */
    private readonly scratchRoot = process.env.RUNNER_TEMP ?? os.tmpdir(),
  ) {}

  async prepareImage(image: string | Omit<ImageRequest, "imagesDir">, log?: (line: string) => void): Promise<ImageRef> {
    await this.preflight();
    if (typeof image !== "string") return prepareExperimentImage(this.docker, { ...image, imagesDir: this.imagesDir }, log);
    return ensureImage(this.docker, this.imagesDir, image, log);
  }

  async preflight(): Promise<RuntimeInfo> {
    if (this.runtimeInfo) return this.runtimeInfo;
    let info: { Runtimes?: Record<string, DockerRuntime> };
    try {
      info = (await this.docker.info()) as typeof info;
    } catch (error) {
      throw new SandboxUnavailableError(`the Docker daemon is not reachable (${errorMessage(error)}). ${SETUP_HINT}`);
    }
    const runsc = this.registeredRuntime(info.Runtimes ?? {});
    this.runtimeInfo = { name: this.runtime, version: await runtimeVersion(runsc.path ?? this.runtime) };
    return this.runtimeInfo;
  }

  /**
   * Takes Docker's runtimes and the runsc version from the host-fit check that has just read them
   * (assembleRun), so a run asks the daemon and runsc once; the same refusal applies.
   */
  adoptHostFindings(findings: HostFindings): void {
    this.registeredRuntime(findings.runtimes);
    // Without a version, preflight reads it itself.
    if (findings.runscVersion) this.runtimeInfo = { name: this.runtime, version: findings.runscVersion };
  }

  private registeredRuntime(runtimes: Record<string, DockerRuntime>): DockerRuntime {
    this.registered = Object.keys(runtimes);
    const registered = runtimes[this.runtime];
    if (!registered) {
      throw new SandboxUnavailableError(
        `the runtime "${this.runtime}" is not registered with Docker (registered: ${this.registered.join(", ") || "none"}); ` +
          "refusing to run without gVisor — there is no fallback to runc. Install it with `apt-get install runsc`, " +
          `add it to /etc/docker/daemon.json with runtimeArgs ["--network=none"] and restart dockerd. ${SETUP_HINT}`,
      );
    }
    return registered;
  }

  async reclaim(): Promise<ReclaimedSandbox[]> {
    const self = await currentProcess();
    if (!self) return [];
    const reclaimed: ReclaimedSandbox[] = [];
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`, OWNER_LABELS.pid] } });
    for (const info of containers) {
      const owner = await ownerState(info.Labels, self);
      if (owner.state !== "gone") continue;
      await removeSandbox(this.docker, info, { releaseScratch: true });
      reclaimed.push({ id: info.Id, runId: info.Labels[RUN_ID_LABEL] ?? "", reason: owner.reason });
    }
    return reclaimed;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const runtime = await this.preflight();
    const wanted = runtimeFor(spec);
    if (wanted !== runtime.name && !this.registered.includes(wanted)) {
      throw new SandboxUnavailableError(
        `the runtime "${wanted}" is not registered with Docker; ` +
          (spec.gpuDeviceIds.length > 0
            ? "see runner-setup/GPU.md for registering runsc with nvproxy (and runner-setup/MONITORING.md for its traced variants)"
            : SETUP_HINT),
      );
    }
    const scratch = await createScratch(this.scratchRoot, spec.name, spec.outputBytes);
    return new DockerSandbox(this.docker, spec, { name: wanted, version: runtime.version }, scratch);
  }
}

async function runtimeVersion(binary: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(binary, ["--version"], { timeout: 10_000 });
    return /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split("\n")[0]!.trim();
  } catch {
    // The daemon knows the runtime even when this process cannot execute it (e.g. a remote daemon).
    return "unknown";
  }
}

class DockerSandbox implements Sandbox {
  private readonly containerIds: string[] = [];

  constructor(
    private readonly docker: Docker,
    private readonly spec: SandboxSpec,
    readonly runtime: RuntimeInfo,
    private readonly scratch: Scratch,
  ) {}

  get outputDir(): string {
    return this.scratch.outputDir;
  }

  get outputSizeLimited(): boolean {
    return this.scratch.sizeLimited;
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const config = buildContainerConfig(this.spec, argv, this.scratch.outputDir);
    const appliedConfig = redactedConfig(config);
    if (options.signal?.aborted) return cancelledBeforeStart(appliedConfig);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(config);
    } catch (error) {
      throw new SandboxStartError(`Docker refused to create the sandbox: ${errorMessage(error)}`);
    }
    this.containerIds.push(container.id);
    options.onCreated?.(container.id);

    const streams = new AbortController();
    // Attach and wait before start: output from the first instruction is kept, and wait cannot miss the exit.
    const output = (await container.attach({
      stream: true,
      stdout: true,
      stderr: true,
      abortSignal: streams.signal,
    })) as NodeJS.ReadableStream;
    const outputEnded = new Promise<void>((resolve) => {
      output.on("end", resolve);
      output.on("close", resolve);
      output.on("error", () => resolve());
    });
    container.modem.demuxStream(output, sink("stdout", options), sink("stderr", options));
    const exited = container.wait({ condition: "next-exit", abortSignal: streams.signal }) as Promise<{ StatusCode: number }>;
    exited.catch(() => undefined);

    let killedFor: "timed-out" | "cancelled" | undefined;
    const kill = (reason: "timed-out" | "cancelled") => {
      killedFor ??= reason;
      container.kill({ signal: "SIGKILL" }).catch(() => undefined);
    };
    const timer = options.timeoutMs ? setTimeout(() => kill("timed-out"), options.timeoutMs) : undefined;
    const onAbort = () => kill("cancelled");
    options.signal?.addEventListener("abort", onAbort);
    try {
      try {
        await container.start();
      } catch (error) {
        throw new SandboxStartError(
          `the runtime ${this.runtime.name} failed to start the sandbox: ${errorMessage(error)}${SMALL_MEMORY_HINT(this.spec)}`,
        );
      }
      if (options.signal?.aborted) kill("cancelled");
      if (options.onSample) sampleStats(container, streams.signal, options.onSample);
      await exited;
      // The exit can overtake the last output frames; give the stream a moment to drain.
      await Promise.race([outputEnded, delay(5_000)]);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      streams.abort();
    }

    const state = (await container.inspect()).State;
    const ran = { appliedConfig, sandboxId: container.id };
    const timeoutSeconds = Math.round((options.timeoutMs ?? 0) / 1000);
    if (killedFor === "timed-out") return ended({ outcome: "timed-out", timeoutSeconds }, CONTAINER_KILLED, ran);
    if (killedFor === "cancelled") return ended({ outcome: "cancelled" }, CONTAINER_KILLED, ran);
    if (state.OOMKilled) return ended({ outcome: "oom-killed", memoryBytes: this.spec.resources.memoryBytes }, CONTAINER_KILLED, ran);
    if (state.Error) throw new SandboxStartError(`the runtime ${this.runtime.name} failed: ${state.Error}${SMALL_MEMORY_HINT(this.spec)}`);
    return ended({ outcome: "exited", exitCode: state.ExitCode }, CONTAINER_KILLED, ran);
  }

  async cleanup(): Promise<void> {
    for (const id of this.containerIds.splice(0)) {
      await this.docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404) throw error;
        });
    }
    await this.scratch.dispose();
  }
}

// gVisor's own kernel needs memory too: below this a start failure is most likely that.
/** How exec ends a sandbox early, as its reasons say: the container is killed (SIGKILL). */
const CONTAINER_KILLED: SandboxStop = { sandbox: "sandbox", stopped: "killed" };

const SMALL_MEMORY_HINT = (spec: SandboxSpec) =>
  spec.resources.memoryBytes < 48 * 1024 * 1024
    ? ` (the memory limit of ${spec.resources.memoryBytes} bytes is probably too small for gVisor itself to start; ask for at least 64Mi)`
    : "";

/**
 * Streams Docker's stats (one object per second) into samples until the signal aborts. The stream is
 * destroyed here as well as through the request's signal, so a sandbox's end closes it whatever
 * docker-modem does with a signal once the answer has begun (its code ties it to non-stream answers).
 */
export function sampleStats(
  container: Pick<Docker.Container, "stats">,
  signal: AbortSignal,
  onSample: (sample: ResourceSample) => void,
): void {
  const started = Date.now();
  container
    // abortSignal is passed through by dockerode but missing from its types.
    .stats({ stream: true, abortSignal: signal } as { stream: true })
    .then((answer) => {
      const stream = answer as unknown as NodeJS.ReadableStream & { destroy(): void };
      if (signal.aborted) return stream.destroy();
      signal.addEventListener("abort", () => stream.destroy(), { once: true });
      let pending = "";
      stream.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const sample = line.trim() ? toSample(JSON.parse(line) as DockerStats, (Date.now() - started) / 1000) : undefined;
          if (sample) onSample(sample);
        }
      });
      stream.on("error", () => undefined);
    })
    .catch(() => undefined);
}

interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number };
}

/** Docker's CPU percentage formula (as `docker stats` computes it). */
export function toSample(stats: DockerStats, t: number): ResourceSample | undefined {
  const cpuDelta = (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) - (stats.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (stats.cpu_stats?.system_cpu_usage ?? 0) - (stats.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = stats.cpu_stats?.online_cpus ?? 1;
  if (stats.memory_stats?.usage === undefined) return undefined;
  const cpuPercent = systemDelta > 0 && cpuDelta >= 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  return { t: Math.round(t * 10) / 10, cpuPercent: Math.round(cpuPercent * 10) / 10, memoryBytes: stats.memory_stats.usage };
}

function sink(stream: OutputStream, options: ExecOptions): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      options.onOutput?.(stream, chunk);
      callback();
    },
  });
}
