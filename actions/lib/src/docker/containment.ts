import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { lstat, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { findExperimentFiles, loadExperiment, type Experiment } from "../experiment.js";
import { runscProcesses } from "./gc.js";
import type { AlertKind, Severity } from "../monitoring/rules.js";
import type { MonitoringOptions } from "../monitoring/session.js";
import { comparisonPolicy, type SandboxPolicy } from "../policy.js";
import { DockerSandboxProvider } from "./provider.js";
import type { RunResult, RunStatus } from "../result/format.js";
import { runExperiment } from "../run.js";
import { RUN_ID_LABEL, type SandboxProvider } from "../sandbox/sandbox.js";

const execFileAsync = promisify(execFile);

export type TechniqueOutcome = "blocked" | "contained" | "succeeded";

/** One line of an attack's /output/techniques.jsonl: what it tried and what it saw. */
export interface TechniqueReport {
  category: string;
  technique: string;
  outcome: TechniqueOutcome;
  evidence: string;
}

/** A fact about the host checked by the pipeline after an attack, never by the attacker. */
export interface HostCheck {
  check: string;
  ok: boolean;
  detail: string;
}

/**
 * Whether behaviour monitoring saw the attack: the rules it raised (none raised is "not detected"), or why
 * nothing is known. The runc baseline is never traced (gVisor's trace points exist only under runsc).
 */
export type AttackDetection =
  | {
      status: "available";
      collector: "ok" | "overloaded" | "broken";
      alerts: { rule: string; severity: Severity; kind: AlertKind; count: number }[];
    }
  | { status: "unavailable"; reason: string }
  | { status: "not-monitored"; reason: string };

export interface AttackVerdict {
  attack: string;
  runtime: string;
  runId: string;
  status: RunStatus;
  verdict: "contained" | "breached";
  reasons: string[];
  techniques: TechniqueReport[];
  /** Lines of techniques.jsonl that were not valid reports (the attacker's output is not trusted to be well formed). */
  malformedReports: number;
  hostChecks: HostCheck[];
  detection: AttackDetection;
}

export const DEFAULT_CONTAINED_STATUSES: RunStatus[] = ["succeeded", "failed", "timed-out", "oom-killed"];

/** A value planted in the runner's environment: it must never show up in anything the sandbox produced. */
const CANARY = `crucible-canary-${createHash("sha256").update(String(process.pid)).digest("hex").slice(0, 16)}`;
const SANDBOX_UID = 65534;

interface HostSnapshot {
  mounts: string;
  modules: string;
  inputsHash: string;
  running: number;
}

export interface ContainmentOptions {
  provider: SandboxProvider;
  docker: Docker;
  policy: SandboxPolicy;
  repoRoot: string;
  resultsRoot?: (experiment: Experiment) => string;
  /** Runs a minimal program in a fresh sandbox to show the next job starts clean. */
  probe: Experiment;
  /** Behaviour monitoring for the attack's run (as assembleRun gives it); absent for the unsandboxed baseline. */
  monitoring?: MonitoringOptions;
  log?: (line: string) => void;
}

/**
 * Runs one attack and judges it. The run goes through the ordinary pipeline; afterwards the host is
 * inspected, and the attack counts as contained only if every host check passes, the run ended in an
 * expected status, and no technique reports success.
 */
export async function judgeAttack(attack: Experiment, options: ContainmentOptions): Promise<AttackVerdict> {
  const { provider, docker, policy } = options;
  const log = options.log ?? (() => undefined);
  process.env.GITHUB_TOKEN ??= CANARY;
  process.env.ACTIONS_RUNTIME_TOKEN ??= CANARY;
  const before = await snapshot(attack);
  const startedAt = Date.now();
  const { result, resultDir } = await runExperiment({
    experiment: attack,
    policy,
    provider,
    repoRoot: options.repoRoot,
    resultsRoot: options.resultsRoot?.(attack),
    monitoring: options.monitoring,
  });
  log(`${attack.spec.name} under ${result.runtime.name}: ${result.status} (${result.statusReason})`);

  const hostChecks: HostCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => hostChecks.push({ check: name, ok, detail });

  const expected = (attack.spec.expect?.statuses as RunStatus[] | undefined) ?? DEFAULT_CONTAINED_STATUSES;
  check("run ended as expected", expected.includes(result.status), `status ${result.status}; contained statuses: ${expected.join(", ")}`);

  const left = await docker.listContainers({ all: true, filters: { label: [`crucible.run-id=${result.runId}`] } });
  check(
    "no sandbox left",
    left.length === 0,
    left.length === 0 ? "no container carries the run's label" : `${left.length} container(s) still exist`,
  );

  const runsc = (await runscProcesses()).filter((p) => p.containerId === result.provenance.containerId);
  check(
    "no runtime process left",
    runsc.length === 0,
    runsc.length === 0 ? "no runsc process serves the run's container" : `pids ${runsc.map((p) => p.pid).join(", ")}`,
  );

  const strays = await processesOfUid(SANDBOX_UID, (await otherRuns(docker, result.runId)).containerIds);
  check(
    "no sandbox process on the host",
    strays.length === 0,
    strays.length === 0 ? `no host process runs as uid ${SANDBOX_UID} outside another run's container` : `pids ${strays.join(", ")}`,
  );

  const after = await snapshot(attack);
  check("inputs unchanged", after.inputsHash === before.inputsHash, `experiment folder hash ${after.inputsHash.slice(0, 16)}`);
  check(
    "host mounts unchanged",
    after.mounts === before.mounts,
    after.mounts === before.mounts ? "same mount table" : "the host mount table changed",
  );
  check(
    "kernel modules unchanged",
    after.modules === before.modules,
    after.modules === before.modules ? "same module list" : "the host module list changed",
  );

  const others = (await otherRuns(docker, result.runId)).runIds;
  const written = (await filesOwnedBy(SANDBOX_UID, startedAt, [os.tmpdir(), "/var/tmp", "/dev/shm", options.repoRoot])).filter(
    (file) => !others.has(scratchRunOf(file) ?? ""),
  );
  check(
    "nothing written outside the output folder",
    written.length === 0,
    written.length === 0 ? "no host file owned by the sandbox user outside another run's output folder" : written.slice(0, 5).join(", "),
  );

  const leaked = await containsCanary(resultDir);
  check(
    "no runner secret in the outputs",
    !leaked,
    leaked ? "a runner token reached the log or outputs" : "runner tokens absent from log and outputs",
  );

  const logText = await readFile(path.join(resultDir, "log.txt"), "latin1");
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const rawControl = /[\x00-\x08\x0b-\x1f\x7f]/.test(logText.replace(/\n/g, ""));
  const commandLines = logText.split("\n").filter((l) => l.trimStart().startsWith("::"));
  check(
    "log holds no raw control characters or workflow commands",
    !rawControl && commandLines.length === 0,
    rawControl ? "raw control characters in log.txt" : `${commandLines.length} line(s) start with ::`,
  );

  const load = await waitForQuietHost(before.running);
  check("host load back to normal", load.ok, load.detail);

  const next = await runExperiment({
    experiment: options.probe,
    policy,
    provider,
    repoRoot: options.repoRoot,
    resultsRoot: path.join(os.tmpdir(), "crucible-probe-results"),
  });
  check(
    "next sandbox starts clean",
    next.result.status === "succeeded" && next.result.metrics.leftovers === 0,
    `probe ${next.result.status}, leftovers ${next.result.metrics.leftovers ?? "unknown"}`,
  );

  const { techniques, malformed } = await readTechniques(resultDir, result);
  const reasons = [
    ...hostChecks.filter((c) => !c.ok).map((c) => `host check failed: ${c.check} (${c.detail})`),
    ...techniques.filter((t) => t.outcome === "succeeded").map((t) => `${t.category}/${t.technique} succeeded: ${t.evidence}`),
  ];
  return {
    attack: attack.spec.name,
    runtime: result.runtime.name,
    runId: result.runId,
    status: result.status,
    verdict: reasons.length === 0 ? "contained" : "breached",
    reasons,
    techniques,
    malformedReports: malformed,
    hostChecks,
    detection: detectionOf(result),
  };
}

function detectionOf(result: RunResult): AttackDetection {
  const monitoring = result.monitoring;
  if (!monitoring) {
    const reason = /^runsc/.test(result.runtime.name)
      ? "the suite was run without behaviour monitoring"
      : `${result.runtime.name} is the unsandboxed baseline: gVisor's trace points exist only under runsc`;
    return { status: "not-monitored", reason };
  }
  if (monitoring.status === "unavailable") return { status: "unavailable", reason: monitoring.reason };
  return {
    status: "available",
    collector: monitoring.collector,
    alerts: (result.alerts ?? []).map(({ rule, severity, kind, count }) => ({ rule, severity, kind, count })),
  };
}

async function readTechniques(resultDir: string, result: RunResult): Promise<{ techniques: TechniqueReport[]; malformed: number }> {
  if (!result.artifacts.some((a) => a.path === "output/techniques.jsonl")) return { techniques: [], malformed: 0 };
  const techniques: TechniqueReport[] = [];
  let malformed = 0;
  for (const line of (await readFile(path.join(resultDir, "output/techniques.jsonl"), "utf8")).split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as Partial<TechniqueReport>;
      if (
        typeof r.category === "string" &&
        typeof r.technique === "string" &&
        ["blocked", "contained", "succeeded"].includes(String(r.outcome))
      ) {
        techniques.push({
          category: r.category.slice(0, 40),
          technique: r.technique.slice(0, 80),
          outcome: r.outcome as TechniqueOutcome,
          evidence: String(r.evidence ?? "").slice(0, 300),
        });
      } else malformed++;
    } catch {
      malformed++;
    }
  }
  return { techniques, malformed };
}

async function snapshot(attack: Experiment): Promise<HostSnapshot> {
  const [mounts, modules] = await Promise.all([readFile("/proc/self/mounts", "utf8"), readFile("/proc/modules", "utf8").catch(() => "")]);
  return {
    mounts: normaliseMounts(mounts),
    modules: modules
      .split("\n")
      .map((l) => l.split(" ")[0])
      .sort()
      .join(","),
    inputsHash: await hashTree(attack.dir),
    running: await runnableCount(),
  };
}

// Crucible's own output tmpfs and the sandboxes' overlay mounts come and go with every run.
function normaliseMounts(table: string): string {
  return table
    .split("\n")
    .filter((l) => l && !l.startsWith("crucible-output ") && !/\/var\/lib\/docker\/|\/run\/docker\/|\/var\/run\/docker\//.test(l))
    .sort()
    .join("\n");
}

/** sha256 over the names, kinds and contents of a folder, skipping results/. */
async function hashTree(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    const entries = (await readdir(path.join(dir, relative), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const child = path.join(relative, entry.name);
      if (relative === "" && entry.name === "results") continue;
      hash.update(`${child}\0${entry.isDirectory() ? "d" : entry.isFile() ? "f" : "o"}\0`);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) hash.update(await readFile(path.join(dir, child)));
    }
  };
  await walk("");
  return hash.digest("hex");
}

/**
 * The other runs Docker knows on this host (their containers in any state): a runner host may run several
 * sandboxes at once (one per slot), and the CI machine runs other tests beside the suite. A sandbox-uid
 * process inside another run's container, or a file in another run's output folder, is that run's own.
 */
async function otherRuns(docker: Docker, runId: string): Promise<{ containerIds: Set<string>; runIds: Set<string> }> {
  const containers = await docker.listContainers({ all: true, filters: { label: [RUN_ID_LABEL] } });
  const others = containers.filter((c) => c.Labels[RUN_ID_LABEL] !== runId);
  return { containerIds: new Set(others.map((c) => c.Id)), runIds: new Set(others.map((c) => c.Labels[RUN_ID_LABEL]!)) };
}

/** The run whose scratch output folder (createScratch: <root>/crucible/<run id>[-<stage>]/output/) holds a file. */
function scratchRunOf(file: string): string | undefined {
  return /\/crucible\/(\d{8}T\d{6}Z-[0-9a-f]{6})(?:-[a-z0-9-]+)?\/output\//.exec(file)?.[1];
}

/** Host processes running as uid, except those inside the given (other runs') containers. */
async function processesOfUid(uid: number, otherContainers: Set<string>): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (!new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) continue;
    const cgroup = await readFile(`/proc/${entry}/cgroup`, "utf8").catch(() => "");
    const container = /[0-9a-f]{64}/.exec(cgroup)?.[0];
    if (container && otherContainers.has(container)) continue;
    pids.push(Number(entry));
  }
  return pids;
}

/** Files owned by uid under the roots, changed since `since`; bounded walk, links not followed. */
async function filesOwnedBy(uid: number, since: number, roots: string[]): Promise<string[]> {
  const found: string[] = [];
  let budget = 200_000;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 8 || budget <= 0) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (--budget <= 0) return;
      const full = path.join(dir, entry.name);
      if (entry.name === "node_modules" || entry.name === ".git") continue;
      const stats = await lstat(full).catch(() => undefined);
      if (!stats) continue;
      if (stats.uid === uid && stats.mtimeMs >= since - 1000) found.push(full);
      if (entry.isDirectory()) await walk(full, depth + 1);
    }
  };
  for (const root of roots) await walk(root, 0);
  return found;
}

async function runnableCount(): Promise<number> {
  const fields = (await readFile("/proc/loadavg", "utf8")).split(" ");
  return Number(fields[3]?.split("/")[0] ?? 0);
}

/** Waits (up to 20 s) until no more tasks are runnable than before the attack, and the host answers quickly. */
async function waitForQuietHost(baseline: number): Promise<{ ok: boolean; detail: string }> {
  const deadline = Date.now() + 20_000;
  let running: number;
  let spawnMs: number;
  do {
    running = await runnableCount();
    const t = Date.now();
    await execFileAsync("true");
    spawnMs = Date.now() - t;
    if (running <= baseline + 2 && spawnMs < 1000)
      return { ok: true, detail: `${running} runnable tasks (before: ${baseline}); starting a process took ${spawnMs} ms` };
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  return { ok: false, detail: `${running} runnable tasks 20 s after the run (before: ${baseline}); starting a process took ${spawnMs} ms` };
}

async function containsCanary(resultDir: string): Promise<boolean> {
  const walk = async (dir: string): Promise<boolean> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && (await walk(full))) return true;
      if (entry.isFile() && (await readFile(full, "latin1")).includes(CANARY)) return true;
    }
    return false;
  };
  return walk(resultDir);
}

/** attack × technique × runtime, with the evidence, and the host checks: what the site's containment page shows. */
export interface ContainmentMatrix {
  generatedAt: string;
  runtimes: string[];
  /** detection is absent in matrices written before behaviour monitoring. */
  verdicts: (Omit<AttackVerdict, "techniques" | "detection"> & { detection?: AttackDetection })[];
  techniques: {
    attack: string;
    category: string;
    technique: string;
    outcomes: Record<string, { outcome: TechniqueOutcome; evidence: string } | null>;
  }[];
}

export function buildMatrix(verdicts: AttackVerdict[], now = new Date()): ContainmentMatrix {
  const runtimes = [...new Set(verdicts.map((v) => v.runtime))];
  const rows = new Map<string, ContainmentMatrix["techniques"][number]>();
  for (const v of verdicts) {
    for (const t of v.techniques) {
      const key = `${v.attack}\0${t.technique}`;
      const row = rows.get(key) ?? {
        attack: v.attack,
        category: t.category,
        technique: t.technique,
        outcomes: Object.fromEntries(runtimes.map((r) => [r, null])),
      };
      row.outcomes[v.runtime] = { outcome: t.outcome, evidence: t.evidence };
      rows.set(key, row);
    }
  }
  return {
    generatedAt: now.toISOString(),
    runtimes,
    verdicts: verdicts.map(({ techniques: _t, ...rest }) => rest),
    techniques: [...rows.values()],
  };
}

export interface SuiteOptions {
  /** Folder holding the attacks (experiments with an `expect` block) and clean-start-probe/. */
  suiteDir: string;
  imagesDir: string;
  policy: SandboxPolicy;
  docker: Docker;
  /** "runsc" always; "runc" added for the comparison. */
  runtimes: ("runsc" | "runc")[];
  /**
   * Behaviour monitoring for the runs under runsc, as assembleRun gives it (docker/monitoring.ts's
   * monitoringFor); without it nothing is traced.
   */
  monitoring?: MonitoringOptions;
  repoRoot: string;
  /** Where results/<runId>/ go; default beside each attack. */
  resultsRoot?: string;
  log?: (line: string) => void;
}

/** Runs every attack under each runtime and returns the verdicts and the containment matrix. */
export async function runContainmentSuite(options: SuiteOptions): Promise<{ verdicts: AttackVerdict[]; matrix: ContainmentMatrix }> {
  const files = await findExperimentFiles([options.suiteDir]);
  const experiments = await Promise.all(files.map((f) => loadExperiment(f, { imagesDir: options.imagesDir })));
  const attacks = experiments.filter((e) => e.spec.expect?.contained);
  const probe = experiments.find((e) => e.spec.name === "clean-start-probe");
  if (!probe) throw new Error(`the containment suite needs ${path.join(options.suiteDir, "clean-start-probe")}`);
  const verdicts: AttackVerdict[] = [];
  for (const runtime of options.runtimes) {
    const policy = runtime === "runsc" ? options.policy : comparisonPolicy(options.policy, runtime);
    const provider = new DockerSandboxProvider(runtime, options.imagesDir, options.docker);
    for (const attack of attacks) {
      verdicts.push(
        await judgeAttack(attack, {
          provider,
          docker: options.docker,
          policy,
          repoRoot: options.repoRoot,
          resultsRoot: options.resultsRoot ? (e) => path.join(options.resultsRoot!, runtime, e.spec.name) : undefined,
          probe,
          monitoring: runtime === "runsc" ? options.monitoring : undefined,
          log: options.log,
        }),
      );
    }
  }
  return { verdicts, matrix: buildMatrix(verdicts) };
}
