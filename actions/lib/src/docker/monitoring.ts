// Behaviour monitoring, found through Docker: the traced runtime entry Docker knows (runner-setup/setup.sh)
// and the socket its trace session writes to. The session itself (monitoring/session.ts) needs no Docker.
import { readFile } from "node:fs/promises";
import type Docker from "dockerode";
import { errorMessage } from "../errors.js";
import { parseJsonWithin } from "../limits.js";
import { applyOverrides, loadRules, type RuleOverrides } from "../monitoring/rules.js";
import { MONITORED_RUNTIME, type MonitoringOptions, type MonitoringSetup } from "../monitoring/session.js";

/** Finds the monitored runtime Docker knows and the socket its trace session writes to, or says why not. */
export async function findMonitoringSetup(
  docker: Docker,
  runtime = MONITORED_RUNTIME,
): Promise<{ ok: true; setup: MonitoringSetup } | { ok: false; reason: string }> {
  let runtimes: Record<string, { path?: string; runtimeArgs?: string[] }>;
  try {
    runtimes = ((await docker.info()) as { Runtimes?: typeof runtimes }).Runtimes ?? {};
  } catch (error) {
    return { ok: false, reason: `the Docker daemon is not reachable (${errorMessage(error)})` };
  }
  const entry = runtimes[runtime];
  if (!entry) return { ok: false, reason: `Docker has no runtime "${runtime}"; run runner-setup/setup.sh to register it` };
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
  return { ok: true, setup: { runtime, podInitConfig, endpoint } };
}

/**
 * What an adapter passes to runExperiment: the traced runtime with the rules (and the runner policy's
 * overrides), or why this runner cannot monitor. Invalid rules or overrides are the runner's
 * configuration error and throw.
 */
export async function monitoringFor(docker: Docker, rulesFile: string, overrides: RuleOverrides | undefined): Promise<MonitoringOptions> {
  const rules = applyOverrides(await loadRules(rulesFile), overrides, "the runner policy");
  const found = await findMonitoringSetup(docker);
  // CRUCIBLE_MONITORING_WAIT (seconds): how long to wait for another run on this host to release the socket.
  const wait = Number(process.env.CRUCIBLE_MONITORING_WAIT ?? 0);
  const lockWaitMs = Number.isFinite(wait) && wait > 0 ? wait * 1000 : 0;
  return found.ok ? { setup: found.setup, rules, lockWaitMs } : { unavailable: found.reason };
}
