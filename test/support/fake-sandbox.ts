// An in-process SandboxProvider for unit tests of the run logic (statuses, stages and skips, artifacts,
// metric merging, relay limits, summaries): a "program" is a TypeScript function given what a sandboxed
// program would see. It isolates nothing; the real-runsc tests prove the sandbox itself.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  ended,
  SandboxStartError,
  type ExecOptions,
  type ExecResult,
  type ImageRef,
  type ReclaimedSandbox,
  type RuntimeInfo,
  type Sandbox,
  type SandboxProvider,
  type SandboxSpec,
} from "../../actions/lib/src/index.js";

/** What a fake program sees and can do. */
export interface FakeIo {
  argv: string[];
  env: Record<string, string>;
  spec: SandboxSpec;
  /** Writes into /output (the sandbox's host output folder), creating folders. */
  output(relative: string, content: string | Uint8Array): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Host paths of the mounted artifacts, by "<stage>/<path>" (what /artifacts/<stage>/<path> would be). */
  artifacts: Record<string, string>;
  /** Aborted when the run is cancelled or the time limit is reached. */
  signal: AbortSignal;
}

/** How a fake program ends: an exit code, or the sandbox reports an out-of-memory kill. */
export type FakeEnding = number | "oom-killed";
export type FakeProgram = (io: FakeIo) => Promise<FakeEnding>;

export interface FakeCall {
  spec: SandboxSpec;
  argv: string[];
}

export class FakeSandboxProvider implements SandboxProvider {
  readonly name = "fake";
  readonly runtime: RuntimeInfo = { name: "fake", version: "0" };
  readonly calls: FakeCall[] = [];
  /** Sandboxes created and not yet cleaned up. */
  live = 0;

  /** `programs` by argv[0] (a stage's command starts with its own name in these tests). */
  constructor(private readonly programs: Record<string, FakeProgram>) {}

  async preflight(): Promise<RuntimeInfo> {
    return this.runtime;
  }

  async reclaim(): Promise<ReclaimedSandbox[]> {
    return [];
  }

  async prepareImage(name: string): Promise<ImageRef> {
    return { name, ref: `crucible/${name}:fake`, id: `sha256:${"0".repeat(64)}`, recipeHash: "fake" };
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const outputDir = path.join(await mkdtemp(path.join(os.tmpdir(), "crucible-fake-")), "output");
    await mkdir(outputDir);
    this.live++;
    let cleaned = false;
    const gone = () => this.live--;
    return {
      runtime: this.runtime,
      outputDir,
      outputSizeLimited: true,
      exec: (argv, options) => this.exec(spec, outputDir, argv, options),
      async cleanup() {
        if (cleaned) return;
        cleaned = true;
        gone();
        await rm(path.dirname(outputDir), { recursive: true, force: true });
      },
    };
  }

  private async exec(spec: SandboxSpec, outputDir: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ spec, argv });
    const program = this.programs[argv[0] ?? ""];
    if (!program) throw new SandboxStartError(`the fake runtime has no program ${argv[0]}`);
    const appliedConfig = { runtime: "fake", argv };
    const sandboxId = `fake-${this.calls.length}`;
    options.onCreated?.(sandboxId);
    const stop = new AbortController();
    let killedFor: "timed-out" | "cancelled" | undefined;
    const kill = (reason: "timed-out" | "cancelled") => {
      killedFor ??= reason;
      stop.abort();
    };
    const timer = options.timeoutMs ? setTimeout(() => kill("timed-out"), options.timeoutMs) : undefined;
    const onAbort = () => kill("cancelled");
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort);
    const stopped = new Promise<"stopped">((resolve) => stop.signal.addEventListener("abort", () => resolve("stopped")));
    options.onSample?.({ t: 0, cpuPercent: 50, memoryBytes: 1024 * 1024 });
    let ending: FakeEnding | "stopped";
    try {
      ending = await Promise.race([
        program({
          argv,
          env: spec.env,
          spec,
          output: async (relative, content) => {
            await mkdir(path.dirname(path.join(outputDir, relative)), { recursive: true });
            await writeFile(path.join(outputDir, relative), content);
          },
          stdout: (text) => options.onOutput?.("stdout", Buffer.from(text)),
          stderr: (text) => options.onOutput?.("stderr", Buffer.from(text)),
          artifacts: Object.fromEntries(spec.artifacts.map((a) => [`${a.stage}/${a.path}`, a.hostPath])),
          signal: stop.signal,
        }),
        stopped,
      ]);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    // Worded by ended(), as the real providers' endings are.
    const ran = { appliedConfig, sandboxId };
    const wording = { sandbox: "fake sandbox", stopped: "stopped" };
    if (killedFor === "timed-out")
      return ended({ outcome: "timed-out", timeoutSeconds: Math.round((options.timeoutMs ?? 0) / 1000) }, wording, ran);
    if (killedFor === "cancelled") return ended({ outcome: "cancelled" }, wording, ran);
    if (ending === "oom-killed") return ended({ outcome: "oom-killed", memoryBytes: spec.resources.memoryBytes }, wording, ran);
    return ended({ outcome: "exited", exitCode: ending === "stopped" ? 137 : ending }, wording, ran);
  }
}

/** Resolves after `ms`, or when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
