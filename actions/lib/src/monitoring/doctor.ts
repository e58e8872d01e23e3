/**
 * `crucible doctor`'s monitoring check: does this runner's runsc trace, end to end? It runs one tiny
 * sandbox under the monitored runtime whose program executes /bin/true, and passes only when that execve
 * came through the trace socket, was decoded and raised a rule made for the check.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { currentProcess, ownerLabels } from "../owner.js";
import type { SandboxPolicy, SandboxSpec } from "../policy.js";
import { MANAGED_LABEL } from "../sandbox/docker.js";
import type { SandboxProvider } from "../sandbox/sandbox.js";
import type { RuleSet } from "./rules.js";
import { type MonitoringOptions, MonitorSession } from "./session.js";

export interface MonitoringCheck {
  ok: boolean;
  detail: string;
}

const PROBE_RULES = (limits: RuleSet["limits"]): RuleSet => ({
  limits,
  rules: [
    { id: "doctor-probe", severity: "low", meaning: "ran /bin/true (the doctor's probe)", match: { event: "execve", names: ["true"] } },
  ],
});

export async function checkMonitoring(
  provider: SandboxProvider,
  policy: SandboxPolicy,
  options: MonitoringOptions,
): Promise<MonitoringCheck> {
  if ("unavailable" in options) return { ok: false, detail: `unavailable: ${options.unavailable}` };
  const image = await provider.prepareImage("base");
  const outputDir = await mkdtemp(path.join(os.tmpdir(), "crucible-doctor-"));
  let session: MonitorSession | undefined;
  try {
    session = await MonitorSession.open(options.setup, PROBE_RULES(options.rules.limits), [], { lockWaitMs: 60_000, drainMs: 3_000 });
    const spec: SandboxSpec = {
      image: image.id,
      policy,
      resources: { cpus: 1, memoryBytes: 256 * 1024 * 1024, timeoutSeconds: 60, gpus: 0 },
      inputs: [],
      artifacts: [],
      outputDir,
      env: {},
      labels: { [MANAGED_LABEL]: "true", "crucible.job": "doctor", ...ownerLabels(await currentProcess()) },
      gpuDeviceIds: [],
      monitoredRuntime: options.setup.runtime,
    };
    const sandbox = await provider.create(spec);
    let exitDetail: string;
    try {
      const opened = session;
      const result = await sandbox.exec(["/bin/sh", "-c", "/bin/true"], { timeoutMs: 60_000, onCreated: (id) => opened.expect(id) });
      exitDetail = result.detail;
    } finally {
      await sandbox.cleanup();
    }
    const outcome = await session.close();
    session = undefined;
    const record = outcome.monitoring;
    if (record.status !== "available") return { ok: false, detail: record.reason };
    const probe = outcome.alerts.find((a) => a.rule === "doctor-probe");
    if (record.collector === "broken") return { ok: false, detail: `the collector broke: ${record.problems.join("; ")}` };
    if (!probe)
      return {
        ok: false,
        detail: `the probe's execve of /bin/true did not arrive (${record.events.received} trace messages; ${exitDetail})`,
      };
    return {
      ok: true,
      detail: `${options.setup.runtime} traced the probe sandbox (${record.events.received} trace messages, the execve of /bin/true among them)`,
    };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  } finally {
    await session?.close();
    await rm(outputDir, { recursive: true, force: true });
  }
}
