/**
 * Monitoring for one sandbox. Debian's runsc (2022) has no per-container trace configuration that
 * Docker 20.10 can pass, so the runtime entry `runsc-monitored` (runner-setup/setup.sh) starts every
 * sandbox with --pod-init-config naming one fixed socket path; runsc connects to it when the sandbox is
 * created and refuses to create the sandbox when nobody listens (fail closed). A run owns that socket for
 * the life of its sandbox, under a host-wide lock, so one run's events never reach another run.
 * (runner-setup/MONITORING.md has the version facts.)
 */
import { rm, mkdir } from "node:fs/promises";
import path from "node:path";
import { errorMessage } from "../errors.js";
import { acquireOwnerLock } from "../owner.js";
import { TraceCollector, type CollectorStats } from "./collector.js";
import { type Alert, type Behaviour, RuleEngine, type RuleSet, type SuppressedAlert } from "./rules.js";

export const MONITORED_RUNTIME = "runsc-monitored";

/** What result.json records about monitoring: never absent, never silent. */
export type MonitoringRecord =
  | {
      status: "available";
      runtime: string;
      /** "ok", or "overloaded" when any event was dropped, or "broken" when the collector itself failed. */
      collector: "ok" | "overloaded" | "broken";
      events: { received: number; evaluated: number; bytes: number };
      dropped: CollectorStats["dropped"];
      problems: string[];
      /** Alerts not raised because the experiment declared the behaviour. */
      suppressed: SuppressedAlert[];
    }
  | { status: "unavailable"; reason: string };

export interface MonitoringOutcome {
  monitoring: MonitoringRecord;
  alerts: Alert[];
}

export interface MonitoringSetup {
  runtime: string;
  podInitConfig: string;
  endpoint: string;
}

export interface SessionOptions {
  /** How long to wait for another run on this host to finish with the socket. */
  lockWaitMs: number;
  /** How long after the program ends to wait for the sandbox to close its trace connection. */
  drainMs: number;
}

/** Owns the trace socket for one sandbox: open before the sandbox is created, close after it exited. */
export class MonitorSession {
  private constructor(
    readonly setup: MonitoringSetup,
    private readonly collector: TraceCollector,
    private readonly engine: RuleEngine,
    private readonly lockFile: string,
    private readonly drainMs: number,
  ) {}

  static async open(
    setup: MonitoringSetup,
    rules: RuleSet,
    declared: readonly Behaviour[],
    options: SessionOptions,
  ): Promise<MonitorSession> {
    const dir = path.dirname(setup.endpoint);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lockFile = `${setup.endpoint}.lock`;
    await acquireOwnerLock(
      lockFile,
      options.lockWaitMs,
      (holder) =>
        new MonitoringBusyError(
          holder.state === "alive"
            ? `another run on this host (pid ${holder.pid}) holds the trace socket`
            : `the trace socket's lock ${lockFile} is held by a process that cannot be judged from here`,
        ),
    );
    try {
      const engine = new RuleEngine(rules, new Set(declared));
      // The lock is ours, so a socket file left here belongs to a run that is gone.
      await rm(setup.endpoint, { force: true });
      const collector = await TraceCollector.listen(setup.endpoint, rules.limits, (event) => engine.observe(event));
      return new MonitorSession(setup, collector, engine, lockFile, options.drainMs);
    } catch (error) {
      await rm(lockFile, { force: true });
      throw error;
    }
  }

  expect(containerId: string): void {
    this.collector.expect(containerId);
  }

  async close(): Promise<MonitoringOutcome> {
    try {
      const stats = await this.collector.finish(this.drainMs);
      const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
      return {
        monitoring: {
          status: "available",
          runtime: this.setup.runtime,
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
      await rm(this.lockFile, { force: true });
    }
  }
}

export class MonitoringBusyError extends Error {}

/** What a run is given: the traced runtime and rules, or the reason this runner cannot monitor. */
export type MonitoringOptions =
  | {
      setup: MonitoringSetup;
      rules: RuleSet;
      /**
       * How long to wait for another run on this host to release the trace socket; by default none: a
       * runner runs one job at a time, and a run that overlaps another is recorded as not monitored rather
       * than kept waiting.
       */
      lockWaitMs?: number;
      drainMs?: number;
    }
  | { unavailable: string };

/** One sandbox's monitoring between openMonitor and closeMonitor. */
export interface OpenedMonitor {
  session?: MonitorSession;
  unavailable?: string;
  closed?: MonitoringOutcome;
}

/** Opens monitoring for one sandbox; a busy or broken trace socket becomes "unavailable" with the reason, never an absence. */
export async function openMonitor(options: MonitoringOptions | undefined, declared: readonly Behaviour[]): Promise<OpenedMonitor> {
  if (!options) return {};
  if ("unavailable" in options) return { unavailable: options.unavailable };
  try {
    const session = await MonitorSession.open(options.setup, options.rules, declared, {
      lockWaitMs: options.lockWaitMs ?? 0,
      drainMs: options.drainMs ?? 3_000,
    });
    return { session };
  } catch (error) {
    return { unavailable: `the trace socket ${options.setup.endpoint} could not be opened: ${errorMessage(error)}` };
  }
}

/** Closes it (once; later calls return the same outcome), giving what the result records. */
export async function closeMonitor(monitor: OpenedMonitor): Promise<MonitoringOutcome | undefined> {
  if (monitor.closed) return monitor.closed;
  if (monitor.session) {
    const session = monitor.session;
    monitor.session = undefined;
    monitor.closed = await session.close();
  } else if (monitor.unavailable !== undefined) {
    monitor.closed = { monitoring: { status: "unavailable", reason: monitor.unavailable }, alerts: [] };
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
  if (unavailable.length > 0) {
    const reasons = unavailable.map((s) => `stage ${s.name}: ${(s.monitoring as { reason: string }).reason}`).join("; ");
    return {
      monitoring: { status: "unavailable", reason: `not every stage was monitored (${reasons})`.slice(0, 1000) },
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
