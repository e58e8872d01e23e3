import type { ImageRequest } from "../image-source.js";
import type { RunResultDocument } from "../contracts/result.js";
import type { SandboxSpec } from "../policy.js";
import { formatBytes } from "../units.js";

/** Every sandbox Crucible creates carries this label, so leaked sandboxes can always be found. */
export const MANAGED_LABEL = "crucible.managed";
/** The run a sandbox belongs to. */
export const RUN_ID_LABEL = "crucible.run-id";

/** A sandbox image as recorded in results: the result schema's `image` (schemas/result.schema.json). */
export type ImageRef = RunResultDocument["image"];

export type OutputStream = "stdout" | "stderr";

export interface ExecOptions {
  /** Called with every chunk of output as it arrives. */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
  /** Wall-clock limit; on expiry the program is killed and the outcome is "timed-out". */
  timeoutMs?: number;
  /** Aborting kills the program; the outcome is "cancelled". */
  signal?: AbortSignal;
  /** Called once the sandbox exists, with its id, so an adapter can record it for cleanup. */
  onCreated?: (sandboxId: string) => void;
  /** Called with resource usage about once a second while the program runs. */
  onSample?: (sample: ResourceSample) => void;
}

/** Resource usage of the whole sandbox at one moment. */
export interface ResourceSample {
  /** Seconds since the program started. */
  t: number;
  /** Percent of one CPU core (200 = two cores busy). */
  cpuPercent: number;
  memoryBytes: number;
}

/** How a program run ended. A non-zero exit is an outcome, not an error: the program ran. */
export interface ExecResult {
  outcome: "exited" | "timed-out" | "oom-killed" | "cancelled";
  exitCode: number | null;
  /** One sentence for humans. */
  detail: string;
  /** Effective sandbox configuration for provenance, without secrets. */
  appliedConfig: Record<string, unknown>;
  sandboxId: string | null;
}

export interface RuntimeInfo {
  name: string;
  version: string;
}

/**
 * One isolated environment. Callers never know which implementation they hold.
 * exec failures of the runtime itself throw SandboxStartError; an unavailable runtime throws
 * SandboxUnavailableError before anything runs.
 */
export interface Sandbox {
  readonly runtime: RuntimeInfo;
  /**
   * The host folder that is the program's /output: the run collects from it after exec returns (the
   * program has ended then) and before cleanup.
   */
  readonly outputDir: string;
  /** Whether /output has a hard size limit (otherwise only the collection caps apply). */
  readonly outputSizeLimited: boolean;
  exec(argv: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Removes everything the sandbox created on the host, its output folder included. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** A sandbox removed because the process that created it is gone. */
export interface ReclaimedSandbox {
  id: string;
  runId: string;
  reason: string;
}

export interface SandboxProvider {
  readonly name: string;
  /** Checks the runtime is usable and returns its identity; throws SandboxUnavailableError with what to do. */
  preflight(): Promise<RuntimeInfo>;
  /**
   * Removes every sandbox whose owning process on this host is gone (owner.ts), with the scratch space it
   * held, so none outlives its owner; called before a run starts its first sandbox. Sandboxes whose owner
   * is alive, or cannot be judged from here, stay.
   */
  reclaim(): Promise<ReclaimedSandbox[]>;
  /**
   * Makes the image available and returns what will run: a recipe by name (built if its recipe changed),
   * or an image the experiment brings (docker/image-build.ts; refusals throw PolicyRejectedError).
   */
  prepareImage(image: string | Omit<ImageRequest, "imagesDir">, log?: (line: string) => void): Promise<ImageRef>;
  create(spec: SandboxSpec): Promise<Sandbox>;
}

/** How a program's run ended, as a provider observed it; ended() words it the same way for every provider. */
export type ProgramEnding =
  | { outcome: "exited"; exitCode: number }
  | { outcome: "timed-out"; timeoutSeconds: number }
  | { outcome: "oom-killed"; memoryBytes: number }
  | { outcome: "cancelled" };

/** How a provider ends a sandbox early, as the reasons name it: Docker kills a sandbox, Kubernetes deletes a sandbox pod. */
export interface SandboxStop {
  sandbox: string;
  stopped: string;
}

/** The exec result for an ending, with the one sentence every provider gives for it. */
export function ended(ending: ProgramEnding, stop: SandboxStop, ran: Pick<ExecResult, "appliedConfig" | "sandboxId">): ExecResult {
  const { sandbox, stopped } = stop;
  switch (ending.outcome) {
    case "exited":
      return { ...ran, ...ending, detail: `The program exited with code ${ending.exitCode}.` };
    case "timed-out": {
      const detail = `The ${sandbox} was ${stopped} when the program reached its time limit of ${ending.timeoutSeconds}s.`;
      return { ...ran, outcome: "timed-out", exitCode: null, detail };
    }
    case "oom-killed": {
      const detail = `The sandbox was killed at its memory limit of ${formatBytes(ending.memoryBytes)}.`;
      return { ...ran, outcome: "oom-killed", exitCode: null, detail };
    }
    case "cancelled":
      return { ...ran, outcome: "cancelled", exitCode: null, detail: `The run was cancelled and the ${sandbox} was ${stopped}.` };
  }
}

/** What exec returns when the run was cancelled before its sandbox started (nothing to clean up). */
export function cancelledBeforeStart(appliedConfig: Record<string, unknown>): ExecResult {
  return {
    outcome: "cancelled",
    exitCode: null,
    detail: "The run was cancelled before the sandbox started.",
    appliedConfig,
    sandboxId: null,
  };
}
