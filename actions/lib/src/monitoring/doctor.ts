/**
 * The doctor's behaviour-monitoring check: does this runner's runsc trace, end to end, and for as many
 * sandboxes at once as the policy allows? It runs one tiny sandbox under a traced runtime whose program
 * executes /bin/true, and passes only when that execve came through the trace socket, was decoded and
 * raised a rule made for the check, and when there are at least limits.maxConcurrentSandboxes traced
 * runtimes (one per concurrent sandbox), each with its GPU variant when the policy allows GPUs (those are
 * found and checked against the GPU runtime's entry, not run: that would need a free GPU). Its outcome has
 * the shape of one row of a host doctor (status, one-line result, how to fix), so a fuller doctor can list
 * it as one check; `crucible doctor` prints it as it is.
 */
import { errorMessage } from "../errors.js";
import { currentProcess, ownerLabels } from "../owner.js";
import { gpuRuntimeOf, type SandboxPolicy, type SandboxSpec } from "../policy.js";
import { MANAGED_LABEL, type SandboxProvider } from "../sandbox/sandbox.js";
import type { RuleSet } from "./rules.js";
import { type MonitoringOptions, MonitorSession } from "./session.js";

/**
 * "warn": this runner is not set up to monitor, so runs go on and record `monitoring: unavailable`;
 * "fail": it is set up, but the traced runtime does not deliver what the program did.
 */
export interface MonitoringCheck {
  status: "pass" | "warn" | "fail";
  /** What was found, one line. */
  result: string;
  /** What to do about it (warn and fail). */
  fix?: string;
}

const SETUP_FIX =
  "run runner-setup/setup.sh as root (it registers the traced runtimes runsc-monitored-0, -1, … and installs their trace configurations)";
const TRACE_FIX =
  "see runner-setup/MONITORING.md; check that each runsc-monitored-<k> runtime's --pod-init-config file names its own socket " +
  "and the trace points";

const GPU_FIX = (gpuRuntime: string) =>
  `register the GPU runtime ${gpuRuntime} (runner-setup/GPU.md), then run runner-setup/setup.sh: it adds ` +
  `${gpuRuntime}-monitored-0, -1, … with the same trace configurations`;

const PROBE_RULES = (limits: RuleSet["limits"]): RuleSet => ({
  limits,
  rules: [
    // Its kind is only there because every rule has one: a program started, as in privilege attempts.
    {
      id: "doctor-probe",
      severity: "low",
      kind: "privilege",
      meaning: "ran /bin/true (the doctor's probe)",
      match: { event: "execve", names: ["true"] },
    },
  ],
});

export async function checkMonitoring(
  provider: SandboxProvider,
  policy: SandboxPolicy,
  options: MonitoringOptions,
): Promise<MonitoringCheck> {
  if ("unavailable" in options) return { status: "warn", result: `unavailable: ${options.unavailable}`, fix: SETUP_FIX };
  let session: MonitorSession | undefined;
  try {
    const image = await provider.prepareImage("base");
    session = await MonitorSession.open(options.channels, PROBE_RULES(options.rules.limits), [], {
      holder: `doctor-probe-${process.pid}`,
      lockWaitMs: 60_000,
      drainMs: 3_000,
    });
    const spec: SandboxSpec = {
      image: image.id,
      policy,
      resources: { cpus: 1, memoryBytes: 256 * 1024 * 1024, timeoutSeconds: 60, gpus: 0 },
      inputs: [],
      artifacts: [],
      name: `doctor-monitoring-${process.pid}`,
      outputBytes: 1024 * 1024,
      env: {},
      labels: { [MANAGED_LABEL]: "true", "crucible.job": "doctor", ...ownerLabels(await currentProcess()) },
      gpuDeviceIds: [],
      traced: { runtime: session.setup.runtime },
    };
    const sandbox = await provider.create(spec);
    let exitDetail: string;
    try {
      const opened = session;
      const result = await sandbox.exec(["/bin/sh", "-c", "/bin/true"], {
        timeoutMs: 60_000,
        onCreated: (id) => opened.expect(id, opened.setup.runtime),
      });
      exitDetail = result.detail;
    } finally {
      await sandbox.cleanup();
    }
    const outcome = await session.close();
    session = undefined;
    const record = outcome.monitoring;
    if (record.status !== "available") return { status: "fail", result: record.reason, fix: TRACE_FIX };
    if (record.collector === "broken")
      return { status: "fail", result: `the collector broke: ${record.problems.join("; ")}`, fix: TRACE_FIX };
    if (!outcome.alerts.some((a) => a.rule === "doctor-probe"))
      return {
        status: "fail",
        result: `the probe's execve of /bin/true did not arrive (${record.events.received} trace messages; ${exitDetail})`,
        fix: TRACE_FIX,
      };
    const traced =
      `${record.runtime} traced the probe sandbox ` + `(${record.events.received} trace messages, the execve of /bin/true among them)`;
    const count = options.channels.length;
    const limit = policy.limits.maxConcurrentSandboxes;
    if (count < limit)
      return {
        status: "warn",
        result:
          `${traced}, but only ${count} traced runtime(s) for up to ${limit} sandboxes at once: ` +
          `the runs beyond ${count} record monitoring: unavailable`,
        fix: `run runner-setup/setup.sh with CRUCIBLE_MONITORED_RUNTIMES=${limit} or more`,
      };
    const enough = `${traced}; ${count} traced runtimes for up to ${limit} sandboxes at once`;
    const gpuRuntime = gpuRuntimeOf(policy);
    if (!gpuRuntime) return { status: "pass", result: enough };
    const gpuRuntimes = options.channels.map((channel) => channel.gpuRuntime);
    if (gpuRuntimes.every((name) => name !== undefined))
      return { status: "pass", result: `${enough}, each with its GPU variant (${gpuRuntimes[0]} … ${gpuRuntimes.at(-1)})` };
    return {
      status: "warn",
      result: `${enough}, but sandboxes with GPUs are not traced: ${options.gpuUnavailable ?? "no traced GPU runtime is registered"}`,
      fix: GPU_FIX(gpuRuntime),
    };
  } catch (error) {
    return { status: "fail", result: errorMessage(error), fix: TRACE_FIX };
  } finally {
    await session?.close();
  }
}
