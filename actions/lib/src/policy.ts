import { readFile } from "node:fs/promises";
import { CrucibleError, PolicyRejectedError, errorMessage } from "./errors.js";
import type { Experiment, Resources } from "./experiment.js";
import { resolveImagePolicy, type ImagePolicy } from "./image-source.js";
import { parseJsonWithin } from "./limits.js";
import type { RuleOverrides } from "./monitoring/rules.js";
import { describeSchemaError, validatePolicyDocument } from "./schemas.js";
import { formatBytes, parseDuration, parseMemory } from "./units.js";

/** A runner's policy file as written (the type generated from schemas/policy.schema.json). */
export type { PolicyDocument } from "./contracts/policy.js";

/** The policy with units resolved: what every sandbox on this runner is held to. */
export interface SandboxPolicy {
  /** Always runsc from a policy file; only the containment suite's comparison run uses runc (see comparisonPolicy). */
  runtime: string;
  limits: { maxCpus: number; maxMemoryBytes: number; maxTimeoutSeconds: number; maxGpus: number; maxConcurrentSandboxes: number };
  user: string;
  pidsLimit: number;
  nproc: number;
  nofile: number;
  tmpBytes: number;
  shmBytes: number;
  logMaxBytes: number;
  outputBytes: number;
  gpu?: { runtime: string; leaseDir: string; devices?: string[] };
  /** Images experiments bring (image-source.ts); loadPolicy always fills it in, with safe defaults. */
  images?: ImagePolicy;
  /** This runner's changes to the monitoring rules, applied by monitoringFor (monitoring/session.ts). */
  monitoring?: RuleOverrides;
}

/** Sandboxes at once on one host when the policy does not say (slots.ts queues the rest). */
export const DEFAULT_MAX_CONCURRENT_SANDBOXES = 4;

export async function loadPolicy(file: string): Promise<SandboxPolicy> {
  let doc: unknown;
  try {
    doc = parseJsonWithin(await readFile(file, "utf8"), { maxBytes: 1024 * 1024, maxDepth: 64 });
  } catch (error) {
    throw new CrucibleError(`cannot read the runner policy ${file}: ${errorMessage(error)}`);
  }
  if (!validatePolicyDocument(doc)) {
    const problems = (validatePolicyDocument.errors ?? []).map(describeSchemaError).join("; ");
    throw new CrucibleError(`runner policy ${file} is invalid: ${problems}`);
  }
  if (doc.limits.maxGpus > 0 && !doc.gpu)
    throw new CrucibleError(
      `runner policy ${file} allows GPUs (limits.maxGpus ${doc.limits.maxGpus}) but has no gpu section naming the nvproxy runtime`,
    );
  return {
    runtime: doc.runtime,
    limits: {
      maxCpus: doc.limits.maxCpus,
      maxMemoryBytes: parseMemory(doc.limits.maxMemory),
      maxTimeoutSeconds: parseDuration(doc.limits.maxTimeout),
      maxGpus: doc.limits.maxGpus,
      maxConcurrentSandboxes: doc.limits.maxConcurrentSandboxes ?? DEFAULT_MAX_CONCURRENT_SANDBOXES,
    },
    user: doc.sandbox.user,
    pidsLimit: doc.sandbox.pidsLimit,
    nproc: doc.sandbox.nproc,
    nofile: doc.sandbox.nofile,
    tmpBytes: parseMemory(doc.sandbox.tmpSize),
    shmBytes: parseMemory(doc.sandbox.shmSize),
    logMaxBytes: parseMemory(doc.sandbox.logMaxBytes),
    outputBytes: parseMemory(doc.sandbox.outputSize),
    images: resolveImagePolicy(doc.images),
    ...(doc.gpu ? { gpu: doc.gpu } : {}),
    ...(doc.monitoring ? { monitoring: doc.monitoring } : {}),
  };
}

/** The GPU runtime when the policy takes GPU runs (a GPU section and a GPU limit above 0), else undefined. */
export function gpuRuntimeOf(policy: Pick<SandboxPolicy, "gpu" | "limits">): string | undefined {
  return policy.gpu && policy.limits.maxGpus > 0 ? policy.gpu.runtime : undefined;
}

/**
 * The same policy under plain runc. Used only by the containment suite to show what gVisor adds; a
 * policy file can never name runc, so no ordinary run can fall back to it.
 */
export function comparisonPolicy(policy: SandboxPolicy, runtime: "runc"): SandboxPolicy {
  return { ...policy, runtime };
}

/**
 * Refuses an experiment that asks for more than the policy allows, naming every limit it exceeds (for a
 * staged experiment, every stage is checked before the first one starts).
 */
export function checkAgainstPolicy(experiment: Experiment, policy: SandboxPolicy): void {
  const l = policy.limits;
  const over: string[] = [];
  const check = (r: Resources, where: string) => {
    if (r.cpus > l.maxCpus) over.push(`${where}cpus ${r.cpus} exceeds the runner's limit of ${l.maxCpus}`);
    if (r.memoryBytes > l.maxMemoryBytes)
      over.push(`${where}memory ${formatBytes(r.memoryBytes)} exceeds the runner's limit of ${formatBytes(l.maxMemoryBytes)}`);
    if (r.timeoutSeconds > l.maxTimeoutSeconds)
      over.push(`${where}timeout ${r.timeoutSeconds}s exceeds the runner's limit of ${l.maxTimeoutSeconds}s`);
    if (r.gpus > l.maxGpus) over.push(`${where}gpus ${r.gpus} exceeds the runner's limit of ${l.maxGpus}`);
  };
  if (experiment.stages) for (const stage of experiment.stages) check(stage.resources, `stage ${stage.name}: resources.`);
  else check(experiment.resources, "resources.");
  if (over.length > 0) throw new PolicyRejectedError(`the runner's policy refuses this experiment: ${over.join("; ")}`);
}

/** Everything about one sandbox that does not depend on the runtime implementation. */
export interface SandboxSpec {
  image: string;
  policy: SandboxPolicy;
  resources: Experiment["resources"];
  /** Host paths mounted read-only, at /experiment/<relative>. */
  inputs: Experiment["inputs"];
  /** Artifacts of earlier stages (verified files in the artifact store), mounted read-only at /artifacts/<stage>/<path>. */
  artifacts: { stage: string; path: string; hostPath: string }[];
  /** Names the sandbox's host folders: unique per run and stage (<run id>[-<stage>]). */
  name: string;
  /** Size of the sandbox's /output folder, the only place results leave the sandbox. */
  outputBytes: number;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** GPU device ids assigned to this sandbox by the host allocator. */
  gpuDeviceIds: string[];
  /** The traced runtimes of the trace channel this sandbox leased (monitoring/session.ts), when it is monitored. */
  traced?: TracedRuntimes;
}

/**
 * One trace channel's runtime entries: the policy's runtime with the channel's trace session, and the GPU
 * runtime with the same session when the runner has it (runner-setup/configure-docker.mjs writes both).
 */
export interface TracedRuntimes {
  runtime: string;
  gpuRuntime?: string;
}

export const SANDBOX_WORKDIR = "/experiment";
export const SANDBOX_OUTPUT = "/output";
export const SANDBOX_ARTIFACTS = "/artifacts";

/**
 * The one place that picks a sandbox's runtime. GPU runs need the runtime registered with nvproxy; every
 * other run uses the policy's runtime. A monitored sandbox gets the traced variant of that runtime from
 * the channel it leased, so one lease (and one trace socket) serves either kind of sandbox.
 */
export function runtimeFor(spec: Pick<SandboxSpec, "policy" | "gpuDeviceIds" | "traced">): string {
  const { traced } = spec;
  if (spec.gpuDeviceIds.length === 0) return traced?.runtime ?? spec.policy.runtime;
  if (!spec.policy.gpu) throw new PolicyRejectedError("GPUs were assigned but the runner policy has no gpu runtime");
  if (!traced) return spec.policy.gpu.runtime;
  // Never the CPU variant: it has no nvproxy, so the program would not see its GPUs.
  if (!traced.gpuRuntime)
    throw new PolicyRejectedError(`a sandbox with GPUs was given the trace channel of ${traced.runtime}, which has no GPU variant`);
  return traced.gpuRuntime;
}
