// Behaviour monitoring, found through Docker: the traced runtime entries Docker knows (runner-setup/setup.sh)
// and the socket each one's trace session writes to. The session itself (monitoring/session.ts) needs no Docker.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type Docker from "dockerode";
import { errorMessage } from "../errors.js";
import { parseJsonWithin } from "../limits.js";
import { applyOverrides, loadRules, type RuleOverrides } from "../monitoring/rules.js";
import { MONITORED_RUNTIME_PREFIX, type MonitoringOptions, type MonitoringSetup } from "../monitoring/session.js";

type RuntimeEntries = Record<string, { path?: string; runtimeArgs?: string[] }>;

/**
 * Finds the traced runtime entries Docker knows (`runsc-monitored-0` … `-<N-1>`, runner-setup/setup.sh)
 * and the socket each one's trace session writes to, or says why this runner cannot monitor. The sockets
 * must be distinct (two entries sharing one would mix two runs' events) and in one folder, where their
 * leases are kept.
 */
export async function findMonitoringSetup(
  docker: Docker,
): Promise<{ ok: true; channels: MonitoringSetup[] } | { ok: false; reason: string }> {
  let runtimes: RuntimeEntries;
  try {
    runtimes = ((await docker.info()) as { Runtimes?: RuntimeEntries }).Runtimes ?? {};
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
  const channels: MonitoringSetup[] = [];
  for (const n of numbers) {
    const found = await readChannel(`${MONITORED_RUNTIME_PREFIX}${n}`, runtimes[`${MONITORED_RUNTIME_PREFIX}${n}`]!);
    if (!found.ok) return found;
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
  return { ok: true, channels };
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
 * What an adapter passes to runExperiment: the traced runtime with the rules (and the runner policy's
 * overrides), or why this runner cannot monitor. Invalid rules or overrides are the runner's
 * configuration error and throw.
 */
export async function monitoringFor(docker: Docker, rulesFile: string, overrides: RuleOverrides | undefined): Promise<MonitoringOptions> {
  const rules = applyOverrides(await loadRules(rulesFile), overrides, "the runner policy");
  const found = await findMonitoringSetup(docker);
  // CRUCIBLE_MONITORING_WAIT (seconds): how long to wait when every traced runtime on this host is in use.
  const wait = Number(process.env.CRUCIBLE_MONITORING_WAIT ?? 0);
  const lockWaitMs = Number.isFinite(wait) && wait > 0 ? wait * 1000 : 0;
  return found.ok ? { channels: found.channels, rules, lockWaitMs } : { unavailable: found.reason, rules };
}
