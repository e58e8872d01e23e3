/**
 * Monitoring for one sandbox. Debian's runsc (2022) has no per-container trace configuration that
 * Docker 20.10 can pass, so runner-setup/setup.sh registers several traced runtime entries
 * (`runsc-monitored-0` … `-<N-1>`), each starting its sandboxes with a --pod-init-config that names its
 * own socket; runsc connects to it when the sandbox is created and refuses to create the sandbox when
 * nobody listens (fail closed). A run leases one entry for the life of its sandbox (a SandboxSlots lease
 * kept beside the sockets), so concurrent runs each have their own socket and one run's events never
 * reach another run. (runner-setup/MONITORING.md has the version facts.)
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { errorMessage } from "../errors.js";
import type { TracedRuntimes } from "../policy.js";
import { SandboxSlots, type SlotLease } from "../slot-leases.js";
import { TraceCollector, type CollectorStats } from "./collector.js";
import type { ControlTextCounts } from "../relay.js";
import { type Alert, type Behaviour, RuleEngine, type RuleSet, type RunSignal, type SuppressedAlert } from "./rules.js";

/** Traced runtime entry k is named `${MONITORED_RUNTIME_PREFIX}${k}`. */
export const MONITORED_RUNTIME_PREFIX = "runsc-monitored-";

/**
 * Where alerts can come from: gVisor's trace, the output relay (control text it neutralised) and the
 * run's outcome (limits the provider saw bite). Without the trace the other two still raise their alerts.
 */
export type AlertSource = "trace" | "output" | "outcome";

/** What result.json records about monitoring: never absent, never silent. */
export type MonitoringRecord =
  | {
      status: "available";
      /** Absent in results written before output and outcome alerts. */
      sources?: AlertSource[];
      runtime: string;
      /** "ok", or "overloaded" when any event was dropped, or "broken" when the collector itself failed. */
      collector: "ok" | "overloaded" | "broken";
      events: { received: number; evaluated: number; bytes: number };
      dropped: CollectorStats["dropped"];
      problems: string[];
      /** Alerts not raised because the experiment declared the behaviour. */
      suppressed: SuppressedAlert[];
    }
  | { status: "unavailable"; reason: string; sources?: AlertSource[] };

export interface MonitoringOutcome {
  monitoring: MonitoringRecord;
  alerts: Alert[];
}

/**
 * One trace channel: the traced runtime entry k (and its GPU variant, `<gpu runtime>-monitored-<k>`, when the
 * runner has one: same trace configuration, same socket) and the socket its trace session writes to.
 */
export interface MonitoringSetup extends TracedRuntimes {
  podInitConfig: string;
  endpoint: string;
}

export interface SessionOptions {
  /** Names the lease's holder in a waiting run's message (a run id, or what else holds it). */
  holder: string;
  /** How long to wait when every traced runtime on this host is in use. */
  lockWaitMs: number;
  /** How long after the program ends to wait for the sandbox to close its trace connection. */
  drainMs: number;
}

/**
 * The host's traced runtimes as a pool: channel k is runtime entry k, its socket, and the lease file
 * slot-<k>.lock in the sockets' folder. Every process reads the same entries from Docker, so all agree on
 * which file guards which socket.
 */
function channelLeases(channels: readonly MonitoringSetup[]): SandboxSlots {
  return new SandboxSlots(path.dirname(channels[0]!.endpoint), channels.length);
}

/** Owns one traced runtime's socket for one sandbox: open before the sandbox is created, close after it exited. */
export class MonitorSession {
  /** The runtime the sandbox was created under (one of the channel's), as the record names it. */
  private runtime: string;

  private constructor(
    readonly setup: MonitoringSetup,
    private readonly collector: TraceCollector,
    readonly engine: RuleEngine,
    private readonly lease: SlotLease,
    private readonly drainMs: number,
  ) {
    this.runtime = setup.runtime;
  }

  static async open(
    channels: readonly MonitoringSetup[],
    rules: RuleSet,
    declared: readonly Behaviour[],
    options: SessionOptions,
  ): Promise<MonitorSession> {
    if (channels.length === 0) throw new Error("no traced runtime is configured");
    const leases = channelLeases(channels);
    await mkdir(leases.dir, { recursive: true, mode: 0o700 });
    const lease = await leaseChannel(leases, options.holder, options.lockWaitMs);
    const setup = channels[lease.slot]!;
    try {
      const engine = new RuleEngine(rules, new Set(declared));
      // The lease is ours, so a socket file left here belongs to a run that is gone.
      await rm(setup.endpoint, { force: true });
      const collector = await TraceCollector.listen(setup.endpoint, rules.limits, (event) => engine.observe(event));
      return new MonitorSession(setup, collector, engine, lease, options.drainMs);
    } catch (error) {
      await lease.release();
      throw error;
    }
  }

  /** The container just created under `runtime` (runtimeFor chose it from this channel): only its connection is read. */
  expect(containerId: string, runtime: string): void {
    this.runtime = runtime;
    this.collector.expect(containerId);
  }

  async close(): Promise<MonitoringOutcome> {
    try {
      const stats = await this.collector.finish(this.drainMs);
      const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
      return {
        monitoring: {
          status: "available",
          sources: ["trace", "output", "outcome"],
          runtime: this.runtime,
          collector: stats.connections === 0 || stats.problems.length > 0 ? "broken" : dropped > 0 ? "overloaded" : "ok",
          events: { received: stats.messages, evaluated: stats.evaluated, bytes: stats.bytes },
          dropped: stats.dropped,
          problems:
            stats.foreignConnections > 0
              ? [...stats.problems, `${stats.foreignConnections} connection(s) from other sandboxes were refused`]
              : stats.problems,
          suppressed: this.engine.suppressedAlerts(),
        },
        alerts: this.engine.alerts(),
      };
    } finally {
      await rm(this.setup.endpoint, { force: true });
      await this.lease.release();
    }
  }
}

export class MonitoringBusyError extends Error {}

/** A free traced runtime, waiting up to waitMs; the busy error names every holder ("(pid N)"). */
async function leaseChannel(leases: SandboxSlots, holder: string, waitMs: number): Promise<SlotLease> {
  const { lease } = await leases.acquire({ runId: holder, waitMs, pollMs: 200 });
  if (lease) return lease;
  const holders = (await leases.heldBy()).map((h) => (h.pid ? `${h.runId} (pid ${h.pid})` : h.runId));
  throw new MonitoringBusyError(
    `all ${leases.limit} traced runtimes on this host are in use, by ${holders.join(", ") || "processes that just released them"}`,
  );
}

/** What a run is given: the host's traced runtimes and the rules, or the reason this runner cannot monitor. */
export type MonitoringOptions =
  | {
      /** The traced runtime entries, entry k at index k (findMonitoringSetup). */
      channels: MonitoringSetup[];
      /** Why sandboxes with GPUs cannot be traced on this runner (the channels then have no gpuRuntime). */
      gpuUnavailable?: string;
      rules: RuleSet;
      /**
       * How long to wait when every traced runtime is in use; by default none. Setup registers at least as
       * many as the policy lets sandboxes run at once, so a run in a sandbox slot finds one free unless
       * sandboxes outside the slots (the doctor's probe, tests) hold them; it is then recorded as not
       * monitored rather than kept waiting.
       */
      lockWaitMs?: number;
      drainMs?: number;
    }
  /** Without the trace, the rules still turn the output relay's and the outcome's signals into alerts. */
  | { unavailable: string; rules?: RuleSet };

/** One sandbox's monitoring between openMonitor and closeMonitor. */
export interface OpenedMonitor {
  session?: MonitorSession;
  unavailable?: string;
  /** The rules for the signals beside the trace (the session's own engine when there is a session). */
  engine?: RuleEngine;
  closed?: MonitoringOutcome;
}

/**
 * Opens monitoring for one sandbox, leased in the name of `holder` (the run, and its stage); no free or
 * a broken trace socket becomes "unavailable" with the reason, never an absence. A sandbox with GPUs
 * (`gpu`) is traced only when every channel has a GPU variant; otherwise no channel is leased for it.
 */
export async function openMonitor(
  options: MonitoringOptions | undefined,
  declared: readonly Behaviour[],
  holder: string,
  sandbox: { gpu: boolean } = { gpu: false },
): Promise<OpenedMonitor> {
  if (!options) return {};
  const untracedEngine = () => (options.rules ? new RuleEngine(options.rules, new Set(declared)) : undefined);
  if ("unavailable" in options) return { unavailable: options.unavailable, engine: untracedEngine() };
  if (sandbox.gpu && !options.channels.every((channel) => channel.gpuRuntime))
    return {
      unavailable: `a sandbox with GPUs is not traced on this runner: ${options.gpuUnavailable ?? "it has no traced GPU runtime"}`,
      engine: untracedEngine(),
    };
  try {
    const session = await MonitorSession.open(options.channels, options.rules, declared, {
      holder,
      lockWaitMs: options.lockWaitMs ?? 0,
      drainMs: options.drainMs ?? 3_000,
    });
    return { session, engine: session.engine };
  } catch (error) {
    return { unavailable: `no trace socket could be opened: ${errorMessage(error)}`, engine: untracedEngine() };
  }
}

/**
 * What the pipeline saw of one program beside the trace: how the provider says it ended (absent when the
 * sandbox never ran it), and the output relay, which counts the control text it neutralised. The relay
 * starts just before the sandbox, so its clock stands in for the sandbox's.
 */
export interface RunSignals {
  ending?: { outcome: string; detail: string };
  relay: {
    readonly controlText: ControlTextCounts;
    readonly firstControlTextMs: number | undefined;
    readonly flushedAtMs: number | undefined;
    elapsedMs(): number;
  };
}

function signalsOf({ ending, relay }: RunSignals): RunSignal[] {
  const out: RunSignal[] = [];
  const limit = ending?.outcome === "timed-out" ? "time" : ending?.outcome === "oom-killed" ? "memory" : undefined;
  if (limit) out.push({ kind: "limit-reached", limit, t: (relay.flushedAtMs ?? relay.elapsedMs()) / 1000, detail: ending!.detail });
  if (relay.firstControlTextMs !== undefined)
    out.push({ kind: "output-control", t: relay.firstControlTextMs / 1000, counts: { ...relay.controlText } });
  return out;
}

/** Closes it (once; later calls return the same outcome), giving what the result records. */
export async function closeMonitor(monitor: OpenedMonitor, signals: RunSignals): Promise<MonitoringOutcome | undefined> {
  if (monitor.closed) return monitor.closed;
  for (const signal of signalsOf(signals)) monitor.engine?.observeSignal(signal);
  if (monitor.session) {
    const session = monitor.session;
    monitor.session = undefined;
    monitor.closed = await session.close();
  } else if (monitor.unavailable !== undefined) {
    monitor.closed = {
      monitoring: { status: "unavailable", reason: monitor.unavailable, sources: monitor.engine ? ["output", "outcome"] : [] },
      alerts: monitor.engine?.alerts() ?? [],
    };
  }
  return monitor.closed;
}

/**
 * A multi-stage run's monitoring: each stage records its own; the run shows them together. Not
 * monitored as a whole when any stage that ran was not; alerts summed per rule (example times stay
 * relative to their stage's start, the stage's own record says which).
 */
export function mergeStageMonitoring(stages: { name: string; monitoring?: MonitoringRecord; alerts?: Alert[] }[]): {
  monitoring?: MonitoringRecord;
  alerts?: Alert[];
} {
  const ran = stages.filter((s) => s.monitoring);
  if (ran.length === 0) return {};
  const unavailable = ran.filter((s) => s.monitoring!.status === "unavailable");
  const alerts = new Map<string, Alert>();
  for (const stage of ran) {
    for (const alert of stage.alerts ?? []) {
      const merged = alerts.get(alert.rule);
      if (!merged) alerts.set(alert.rule, { ...alert, examples: [...alert.examples] });
      else {
        merged.count += alert.count;
        merged.examples.push(...alert.examples.slice(0, Math.max(0, 100 - merged.examples.length)));
      }
    }
  }
  const order = { high: 0, medium: 1, low: 2 } as const;
  const mergedAlerts = [...alerts.values()].sort((a, b) => order[a.severity] - order[b.severity] || a.rule.localeCompare(b.rule));
  // A source counts for the run when every stage had it.
  const sources = (["trace", "output", "outcome"] as const).filter((source) => ran.every((s) => s.monitoring!.sources?.includes(source)));
  const sourcesField = ran.some((s) => s.monitoring!.sources) ? { sources } : {};
  if (unavailable.length > 0) {
    const reasons = unavailable.map((s) => `stage ${s.name}: ${(s.monitoring as { reason: string }).reason}`).join("; ");
    return {
      monitoring: { status: "unavailable", reason: `not every stage was monitored (${reasons})`.slice(0, 1000), ...sourcesField },
      alerts: mergedAlerts,
    };
  }
  const records = ran.map((s) => s.monitoring as Extract<MonitoringRecord, { status: "available" }>);
  const sum = (pick: (r: (typeof records)[number]) => number) => records.reduce((total, r) => total + pick(r), 0);
  const suppressed = new Map<string, SuppressedAlert>();
  for (const r of records)
    for (const s of r.suppressed) suppressed.set(s.rule, { ...s, count: (suppressed.get(s.rule)?.count ?? 0) + s.count });
  const collector = records.some((r) => r.collector === "broken")
    ? "broken"
    : records.some((r) => r.collector === "overloaded")
      ? "overloaded"
      : "ok";
  return {
    monitoring: {
      status: "available",
      ...sourcesField,
      runtime: records[0]!.runtime,
      collector,
      events: { received: sum((r) => r.events.received), evaluated: sum((r) => r.events.evaluated), bytes: sum((r) => r.events.bytes) },
      dropped: {
        bySandbox: sum((r) => r.dropped.bySandbox),
        byRate: sum((r) => r.dropped.byRate),
        byTotal: sum((r) => r.dropped.byTotal),
        byBytes: sum((r) => r.dropped.byBytes),
        malformed: sum((r) => r.dropped.malformed),
      },
      problems: ran.flatMap((s) => (s.monitoring as (typeof records)[number]).problems.map((p) => `stage ${s.name}: ${p}`)).slice(0, 20),
      suppressed: [...suppressed.values()],
    },
    alerts: mergedAlerts,
  };
}
