// Behaviour monitoring, found through Docker: the traced runtime entries Docker knows (runner-setup/setup.sh)
// and the socket each one's trace session writes to. The session itself (monitoring/session.ts) needs no Docker.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type Docker from "dockerode";
import { errorMessage } from "../errors.js";
import { parseJsonWithin } from "../limits.js";
import { applyOverrides, loadRules } from "../monitoring/rules.js";
import { gpuRuntimeOf, type SandboxPolicy } from "../policy.js";
import { MONITORED_RUNTIME_PREFIX, type MonitoringOptions, type MonitoringSetup } from "../monitoring/session.js";

type RuntimeEntries = Record<string, { path?: string; runtimeArgs?: string[]; runtimeType?: string; options?: unknown }>;

/**
 * Finds the traced runtime entries Docker knows (`runsc-monitored-0` … `-<N-1>`, runner-setup/setup.sh)
 * and the socket each one's trace session writes to, or says why this runner cannot monitor. The sockets
 * must be distinct (two entries sharing one would mix two runs' events) and in one folder, where their
 * leases are kept. With `gpuRuntime` (the policy's nvproxy runtime) it also finds each channel's GPU
 * variant `<gpuRuntime>-monitored-<k>`, or says why sandboxes with GPUs cannot be traced.
 */
export async function findMonitoringSetup(
  docker: Docker,
  options: {
    /** The policy's runtime: each traced entry must be it with its trace configuration added. */
    runtime: string;
    /** The policy's GPU runtime, when the runner takes GPU runs: its traced variants are looked for too. */
    gpuRuntime?: string;
    /** Docker's /info when the caller has asked already (a run shares one with its host-fit check). */
    dockerInfo?: Promise<unknown>;
  },
): Promise<{ ok: true; channels: MonitoringSetup[]; gpuUnavailable?: string } | { ok: false; reason: string }> {
  let runtimes: RuntimeEntries;
  try {
    runtimes = ((await (options.dockerInfo ?? docker.info())) as { Runtimes?: RuntimeEntries }).Runtimes ?? {};
  } catch (error) {
    return { ok: false, reason: `the Docker daemon is not reachable (${errorMessage(error)})` };
  }
  const numbers = Object.keys(runtimes)
    .filter((name) => name.startsWith(MONITORED_RUNTIME_PREFIX) && /^\d+$/.test(name.slice(MONITORED_RUNTIME_PREFIX.length)))
    .map((name) => Number(name.slice(MONITORED_RUNTIME_PREFIX.length)))
    .sort((a, b) => a - b);
  if (numbers.length === 0)
    return {
      ok: false,
      reason: `Docker has no runtime "${MONITORED_RUNTIME_PREFIX}0"; run runner-setup/setup.sh to register the traced runtimes`,
    };
  const missing = numbers.findIndex((n, i) => n !== i);
  if (missing >= 0)
    return {
      ok: false,
      reason: `Docker has no runtime "${MONITORED_RUNTIME_PREFIX}${missing}" but has higher ones; run runner-setup/setup.sh`,
    };
  const base = runtimes[options.runtime];
  if (!base) return { ok: false, reason: `Docker has no runtime "${options.runtime}", which the traced runtimes must be` };
  const channels: MonitoringSetup[] = [];
  for (const n of numbers) {
    const name = `${MONITORED_RUNTIME_PREFIX}${n}`;
    const found = await readChannel(name, runtimes[name]!);
    if (!found.ok) return found;
    // A traced entry that is not the policy's runtime (another binary, other flags) would run monitored
    // sandboxes outside the sandbox the host-fit check approved.
    const mismatch = variantMismatch(runtimes[name]!, base, `--pod-init-config=${found.setup.podInitConfig}`);
    if (mismatch)
      return { ok: false, reason: `the runtime "${name}" ${mismatch} (${options.runtime} with its trace configuration); ${RERUN}` };
    const twin = channels.find((c) => c.endpoint === found.setup.endpoint);
    if (twin)
      return { ok: false, reason: `the runtimes "${twin.runtime}" and "${found.setup.runtime}" share the trace socket ${twin.endpoint}` };
    if (channels.length > 0 && path.dirname(found.setup.endpoint) !== path.dirname(channels[0]!.endpoint))
      return {
        ok: false,
        reason: `the traced runtimes' sockets are not in one folder (${channels[0]!.endpoint}, ${found.setup.endpoint})`,
      };
    channels.push(found.setup);
  }
  if (options.gpuRuntime === undefined) return { ok: true, channels };
  const gpu = gpuVariants(runtimes, options.gpuRuntime, channels);
  if (!gpu.ok) return { ok: true, channels, gpuUnavailable: gpu.reason };
  return { ok: true, channels: channels.map((channel, k) => ({ ...channel, gpuRuntime: gpu.names[k]! })) };
}

/**
 * Each channel's GPU variant, as runner-setup/configure-docker.mjs writes it: the GPU runtime's own path
 * and arguments plus channel k's --pod-init-config, so a GPU sandbox keeps nvproxy and is traced on
 * channel k's socket. Anything else (missing, another trace configuration, arguments that drifted from the
 * GPU runtime's) is refused with the reason, and GPU sandboxes are then not traced.
 */
function gpuVariants(
  runtimes: RuntimeEntries,
  gpuRuntime: string,
  channels: MonitoringSetup[],
): { ok: true; names: string[] } | { ok: false; reason: string } {
  const base = runtimes[gpuRuntime];
  if (!base) return { ok: false, reason: `Docker has no GPU runtime "${gpuRuntime}" (runner-setup/GPU.md), so none traced either` };
  const names: string[] = [];
  for (const [k, channel] of channels.entries()) {
    const name = `${gpuRuntime}-monitored-${k}`;
    const entry = runtimes[name];
    if (!entry)
      return { ok: false, reason: `Docker has no runtime "${name}" (${gpuRuntime} traced on ${channel.runtime}'s socket); ${RERUN}` };
    const mismatch = variantMismatch(entry, base, `--pod-init-config=${channel.podInitConfig}`);
    if (mismatch)
      return {
        ok: false,
        reason: `the runtime "${name}" ${mismatch} (${gpuRuntime} with ${channel.runtime}'s trace configuration); ${RERUN}`,
      };
    names.push(name);
  }
  return { ok: true, names };
}

const RERUN = "run runner-setup/setup.sh (runner-setup/MONITORING.md)";

/**
 * Why a traced entry is not `base` run with one argument more, `traceArgument`, as
 * runner-setup/configure-docker.mjs writes it; undefined when it is. The same binary (a path both name),
 * the same arguments in the same order, and no shim type or options of its own.
 */
function variantMismatch(entry: RuntimeEntries[string], base: RuntimeEntries[string], traceArgument: string): string | undefined {
  if (entry.runtimeType !== undefined || entry.options !== undefined) return "has a runtime type or options of its own";
  if (!entry.path || entry.path !== base.path) return `runs ${entry.path ?? "(no path)"}, not ${base.path ?? "(no path)"}`;
  const args = entry.runtimeArgs ?? [];
  const wanted = [...(base.runtimeArgs ?? []), traceArgument];
  if (args.length !== wanted.length || args.some((arg, i) => arg !== wanted[i]))
    return `has the arguments ${args.join(" ")}, not ${wanted.join(" ")}`;
  return undefined;
}

/** One traced runtime entry's trace configuration and the absolute socket path its remote sink names. */
async function readChannel(
  runtime: string,
  entry: RuntimeEntries[string],
): Promise<{ ok: true; setup: MonitoringSetup } | { ok: false; reason: string }> {
  const flag = (entry.runtimeArgs ?? []).find((arg) => arg.startsWith("--pod-init-config="));
  if (!flag) return { ok: false, reason: `the runtime "${runtime}" has no --pod-init-config argument` };
  const podInitConfig = flag.slice("--pod-init-config=".length);
  let document: unknown;
  try {
    document = parseJsonWithin(await readFile(podInitConfig, "utf8"), { maxBytes: 256 * 1024, maxDepth: 16 });
  } catch (error) {
    return { ok: false, reason: `cannot read the trace configuration ${podInitConfig}: ${errorMessage(error)}` };
  }
  const sinks =
    (document as { trace_session?: { sinks?: { name?: string; config?: { endpoint?: unknown } }[] } }).trace_session?.sinks ?? [];
  const endpoint = sinks.find((s) => s.name === "remote")?.config?.endpoint;
  if (typeof endpoint !== "string" || !endpoint.startsWith("/"))
    return { ok: false, reason: `${podInitConfig} names no remote sink with an absolute endpoint` };
  return { ok: true, setup: { runtime, podInitConfig, endpoint: path.normalize(endpoint) } };
}

/**
 * What an adapter passes to runExperiment: the traced runtimes with the rules (and the runner policy's
 * overrides), or why this runner cannot monitor. The GPU variants are looked for when the policy allows
 * GPUs. Invalid rules or overrides are the runner's configuration error and throw.
 */
export async function monitoringFor(
  docker: Docker,
  rulesFile: string,
  policy: Pick<SandboxPolicy, "runtime" | "monitoring" | "gpu" | "limits">,
  /** Docker's /info when the caller has asked already (a run shares one with its host-fit check). */
  dockerInfo?: Promise<unknown>,
): Promise<MonitoringOptions> {
  const rules = applyOverrides(await loadRules(rulesFile), policy.monitoring, "the runner policy");
  const gpuRuntime = gpuRuntimeOf(policy);
  const found = await findMonitoringSetup(docker, {
    runtime: policy.runtime,
    ...(gpuRuntime ? { gpuRuntime } : {}),
    ...(dockerInfo ? { dockerInfo } : {}),
  });
  // CRUCIBLE_MONITORING_WAIT (seconds): how long to wait when every traced runtime on this host is in use.
  const wait = Number(process.env.CRUCIBLE_MONITORING_WAIT ?? 0);
  const lockWaitMs = Number.isFinite(wait) && wait > 0 ? wait * 1000 : 0;
  if (!found.ok) return { unavailable: found.reason, rules };
  return { channels: found.channels, rules, lockWaitMs, ...(found.gpuUnavailable ? { gpuUnavailable: found.gpuUnavailable } : {}) };
}
