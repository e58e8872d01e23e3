/**
 * Rules turn trace events into alerts a reviewer can read: one rule per kind of attempt, with a severity
 * and a one-line meaning (runner-setup/monitoring-rules.json, schemas/monitoring-rules.schema.json).
 * Everything an event carries is program data: it is kept as plain strings here and escaped by each
 * place that shows it.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { validateMonitoringOverrides as validateOverrides } from "../contracts/validators.js";
import { CrucibleError, errorMessage } from "../errors.js";
import { parseJsonWithin } from "../limits.js";
import { describeSchemaError, validateMonitoringRulesDocument } from "../schemas.js";
import { CONTROL_TEXT_KINDS, type ControlTextCounts, type ControlTextKind } from "../relay.js";
import type { TraceEvent } from "./wire.js";

export type Severity = "low" | "medium" | "high";
export type Behaviour = "subprocess" | "package-install" | "many-processes" | "namespaces" | "network-probe" | "kernel-probe";
export const BEHAVIOURS: readonly Behaviour[] = [
  "subprocess",
  "package-install",
  "many-processes",
  "namespaces",
  "network-probe",
  "kernel-probe",
];
/** What an alert is about: the containment suite's categories, so an attack's alerts can be told to be of its kind. */
export type AlertKind = "network" | "filesystem" | "resources" | "privilege" | "recon" | "persistence" | "injection";
/** A limit of the sandbox that a program ran into. */
export type LimitName = "time" | "memory" | "processes" | "descriptors" | "disk";

/**
 * What the pipeline saw beside the trace, raised through the same rules: a limit the provider says the
 * run hit (killed at its time limit, OOM-killed), and the control text the output relay neutralised.
 * `t` is seconds since the sandbox started, as near as the pipeline knows it.
 */
export type RunSignal =
  { kind: "limit-reached"; limit: LimitName; t: number; detail: string } | { kind: "output-control"; t: number; counts: ControlTextCounts };

export type RuleMatch =
  | { event: "connect" }
  | { event: "execve"; names: string[] }
  | { event: "setuid-exec" }
  | { event: "syscall"; syscalls: SyscallName[] }
  | { event: "open-write"; prefixes: string[]; except?: string[] }
  | { event: "other-environ" }
  | { event: "erofs"; except: string[] }
  | { event: "clone-rate"; perSecond: number }
  | { event: "open-read"; prefixes: string[]; except?: string[] }
  | { event: "limit"; limits: LimitName[] }
  | { event: "output-control"; kinds?: ControlTextKind[] };

export interface Rule {
  id: string;
  severity: Severity;
  kind: AlertKind;
  meaning: string;
  behaviour?: Behaviour;
  match: RuleMatch;
}

export interface CollectorLimits {
  eventsPerSecond: number;
  maxEvents: number;
  maxBytes: number;
  examplesPerRule: number;
}

export interface RuleSet {
  limits: CollectorLimits;
  rules: Rule[];
}

/** A runner policy's changes (schemas/monitoring-rules.schema.json#/$defs/overrides). */
export interface RuleOverrides {
  limits?: Partial<CollectorLimits>;
  rules?: Record<string, { severity?: Severity; enabled?: boolean }>;
}

/** x86_64 numbers of the system calls rules may name; the session asks runsc for exactly these raw points. */
export const SYSCALL_NUMBERS = {
  ptrace: 101,
  syslog: 103,
  pivot_root: 155,
  chroot: 161,
  mount: 165,
  umount2: 166,
  init_module: 175,
  delete_module: 176,
  kexec_load: 246,
  unshare: 272,
  setns: 308,
  finit_module: 313,
  bpf: 321,
  io_uring_setup: 425,
} as const;
export type SyscallName = keyof typeof SYSCALL_NUMBERS;
/** Process creation (x86_64), traced at exit so a refusal (EAGAIN: the pids or process limit) is seen. */
const PROCESS_SYSCALLS = new Map<number, string>([
  [56, "clone"],
  [57, "fork"],
  [58, "vfork"],
]);
const SYSCALL_NAMES = new Map<number, SyscallName>(Object.entries(SYSCALL_NUMBERS).map(([name, no]) => [no, name as SyscallName]));

export const DEFAULT_RULES_FILE = path.join("runner-setup", "monitoring-rules.json");

export async function loadRules(file: string): Promise<RuleSet> {
  let document: unknown;
  try {
    document = parseJsonWithin(await readFile(file, "utf8"), { maxBytes: 256 * 1024, maxDepth: 16 });
  } catch (error) {
    throw new CrucibleError(`cannot read the monitoring rules ${file}: ${errorMessage(error)}`);
  }
  return checkRules(document, file);
}

export function checkRules(document: unknown, where: string): RuleSet {
  if (!validateMonitoringRulesDocument(document)) {
    const problems = (validateMonitoringRulesDocument.errors ?? []).map(describeSchemaError).join("; ");
    throw new CrucibleError(`monitoring rules ${where} are invalid: ${problems}`);
  }
  const set: RuleSet = document;
  const ids = new Set<string>();
  for (const rule of set.rules) {
    if (ids.has(rule.id)) throw new CrucibleError(`monitoring rules ${where}: the rule id "${rule.id}" is used twice`);
    ids.add(rule.id);
  }
  return { limits: set.limits, rules: set.rules };
}

/** The rules with a runner policy's overrides applied; an override naming no rule is an error, not a no-op. */
export function applyOverrides(set: RuleSet, overrides: RuleOverrides | undefined, where: string): RuleSet {
  if (!overrides) return set;
  if (!validateOverrides(overrides)) {
    throw new CrucibleError(
      `${where}: monitoring overrides are invalid: ${(validateOverrides.errors ?? []).map(describeSchemaError).join("; ")}`,
    );
  }
  const changes = overrides.rules ?? {};
  for (const id of Object.keys(changes)) {
    if (!set.rules.some((r) => r.id === id))
      throw new CrucibleError(
        `${where}: monitoring override names the rule "${id}", which does not exist (rules: ${set.rules.map((r) => r.id).join(", ")})`,
      );
  }
  return {
    limits: { ...set.limits, ...overrides.limits },
    rules: set.rules
      .filter((rule) => changes[rule.id]?.enabled !== false)
      .map((rule) => (changes[rule.id]?.severity ? { ...rule, severity: changes[rule.id]!.severity! } : rule)),
  };
}

/** One event that raised a rule, as recorded: time since the sandbox started, the process, what it tried. */
export interface AlertExample {
  t: number;
  process: string;
  detail: string[];
}

export interface Alert {
  rule: string;
  severity: Severity;
  kind: AlertKind;
  meaning: string;
  count: number;
  examples: AlertExample[];
}

export interface SuppressedAlert {
  rule: string;
  behaviour: Behaviour;
  count: number;
}

const O_ACCMODE = 0o3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const AT_FDCWD = -100;
const EROFS = 30;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

/** Evaluates events one at a time, keeping per rule a count and the first examples. */
export class RuleEngine {
  private readonly raised = new Map<string, Alert>();
  private readonly suppressed = new Map<string, SuppressedAlert>();
  private startNs: bigint | undefined;
  private lastNs = 0n;
  private readonly cloneWindows = new Map<number, number>();

  constructor(
    private readonly set: RuleSet,
    private readonly declared: ReadonlySet<Behaviour>,
  ) {}

  observe(event: TraceEvent): void {
    // This runsc sends raw syscall exit points (clone/fork/vfork) without their context: no time and no
    // process name. Such an event is placed at the time of the last event that had one.
    if (event.context.timeNs > 0n) this.lastNs = event.context.timeNs;
    const timeNs = event.context.timeNs > 0n ? event.context.timeNs : this.lastNs;
    this.startNs ??= timeNs;
    if (event.kind === "container-start") this.startNs = timeNs;
    for (const rule of this.set.rules) {
      const detail = this.matches(rule.match, event);
      if (detail) this.raise(rule, this.secondsSinceStart(timeNs), event.context.processName || "(not traced)", detail);
    }
  }

  /** A signal from outside the trace; its example names the pipeline part that saw it, not a process. */
  observeSignal(signal: RunSignal): void {
    for (const rule of this.set.rules) {
      if (signal.kind === "limit-reached" && rule.match.event === "limit" && rule.match.limits.includes(signal.limit)) {
        this.raise(rule, signal.t, "(run outcome)", [signal.detail]);
      }
      if (signal.kind === "output-control" && rule.match.event === "output-control") {
        const wanted = rule.match.kinds;
        const counted = CONTROL_TEXT_KINDS.filter((kind) => (signal.counts[kind] ?? 0) > 0 && (!wanted || wanted.includes(kind)));
        const total = counted.reduce((sum, kind) => sum + signal.counts[kind]!, 0);
        if (total > 0)
          this.raise(
            rule,
            signal.t,
            "(output relay)",
            counted.map((kind) => `${kind} ×${signal.counts[kind]}`),
            total,
          );
      }
    }
  }

  alerts(): Alert[] {
    const order: Record<Severity, number> = { high: 0, medium: 1, low: 2 };
    return [...this.raised.values()].sort((a, b) => order[a.severity] - order[b.severity] || a.rule.localeCompare(b.rule));
  }

  suppressedAlerts(): SuppressedAlert[] {
    return [...this.suppressed.values()];
  }

  private raise(rule: Rule, t: number, process: string, detail: string[], times = 1): void {
    if (rule.behaviour && this.declared.has(rule.behaviour)) {
      const entry = this.suppressed.get(rule.id) ?? { rule: rule.id, behaviour: rule.behaviour, count: 0 };
      entry.count += times;
      this.suppressed.set(rule.id, entry);
      return;
    }
    const alert = this.raised.get(rule.id) ?? {
      rule: rule.id,
      severity: rule.severity,
      kind: rule.kind,
      meaning: rule.meaning,
      count: 0,
      examples: [],
    };
    alert.count += times;
    if (alert.examples.length < this.set.limits.examplesPerRule) alert.examples.push({ t, process, detail });
    this.raised.set(rule.id, alert);
  }

  private secondsSinceStart(timeNs: bigint): number {
    const start = this.startNs ?? timeNs;
    return timeNs <= start ? 0 : Math.round(Number((timeNs - start) / 1_000_000n)) / 1000;
  }

  /** What the event shows for this rule (shown as the example's detail), or undefined when it does not match. */
  private matches(match: RuleMatch, event: TraceEvent): string[] | undefined {
    switch (match.event) {
      case "connect": {
        if (event.kind !== "connect") return undefined;
        const address = describeAddress(event.address);
        return address?.network ? [address.text] : undefined;
      }
      case "execve": {
        if (event.kind !== "execve") return undefined;
        return match.names.includes(path.posix.basename(event.path)) ? [event.path, ...event.argv] : undefined;
      }
      case "setuid-exec":
        return event.kind === "sentry-exec" && (event.binaryMode & (S_ISUID | S_ISGID)) !== 0
          ? [event.binaryPath, `mode ${(event.binaryMode & 0o7777).toString(8)}`]
          : undefined;
      case "syscall": {
        if (event.kind !== "syscall") return undefined;
        const name = SYSCALL_NAMES.get(event.sysno);
        return name && match.syscalls.includes(name) ? [name, ...event.args.slice(0, 2).map((a) => `0x${a.toString(16)}`)] : undefined;
      }
      case "open-write": {
        if (event.kind !== "open" || !wantsWrite(event.flags)) return undefined;
        const file = resolvedPath(event);
        return underAny(file, match.prefixes) && !underAny(file, match.except ?? []) ? [file] : undefined;
      }
      case "other-environ": {
        if (event.kind !== "open") return undefined;
        const pid = /^\/proc\/(\d+)\/(?:task\/\d+\/)?environ$/.exec(resolvedPath(event))?.[1];
        return pid !== undefined && Number(pid) !== event.context.threadGroupId ? [resolvedPath(event)] : undefined;
      }
      case "erofs": {
        if (event.kind !== "open" || event.exit?.errno !== EROFS) return undefined;
        const file = resolvedPath(event);
        return underAny(file, match.except) ? undefined : [file];
      }
      case "clone-rate": {
        if (event.kind !== "clone") return undefined;
        const second = Math.floor(this.secondsSinceStart(event.context.timeNs));
        const count = (this.cloneWindows.get(second) ?? 0) + 1;
        this.cloneWindows.set(second, count);
        // One alert per second that crosses the threshold, raised by the event that crosses it.
        return count === match.perSecond + 1 ? [`more than ${match.perSecond} new processes or threads in second ${second}`] : undefined;
      }
      case "open-read": {
        // Writes there are kernel-tunables-write's.
        if (event.kind !== "open" || wantsWrite(event.flags)) return undefined;
        const file = resolvedPath(event);
        return underAny(file, match.prefixes) && !underAny(file, match.except ?? []) ? [file] : undefined;
      }
      case "limit": {
        const limit = limitRefusal(event);
        return limit && match.limits.includes(limit.limit) ? limit.detail : undefined;
      }
      case "output-control":
        // Seen by the relay, not the trace (observeSignal).
        return undefined;
    }
  }
}

const EAGAIN = 11;
const ENFILE = 23;
const EMFILE = 24;
const ENOSPC = 28;

/** A limit the kernel (the Sentry) refused the call for, as the call's exit shows it. */
function limitRefusal(event: TraceEvent): { limit: LimitName; detail: string[] } | undefined {
  if (event.kind === "syscall" && event.exit?.errno === EAGAIN && PROCESS_SYSCALLS.has(event.sysno)) {
    return { limit: "processes", detail: [`${PROCESS_SYSCALLS.get(event.sysno)} failed with EAGAIN`] };
  }
  if (event.kind !== "open" || !event.exit) return undefined;
  const errno = event.exit.errno;
  if (errno === EMFILE || errno === ENFILE)
    return { limit: "descriptors", detail: [resolvedPath(event), errno === EMFILE ? "EMFILE" : "ENFILE"] };
  if (errno === ENOSPC) return { limit: "disk", detail: [resolvedPath(event), "ENOSPC"] };
  return undefined;
}

function wantsWrite(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0 || (flags & (O_CREAT | O_TRUNC)) !== 0;
}

function underAny(file: string, prefixes: string[]): boolean {
  return prefixes.some((prefix) =>
    prefix.endsWith("/") ? file.startsWith(prefix) || `${file}/` === prefix : file === prefix || file.startsWith(`${prefix}/`),
  );
}

/** The opened path as an absolute, normalised path, as far as the event tells. */
export function resolvedPath(event: Extract<TraceEvent, { kind: "open" }>): string {
  if (event.path.startsWith("/")) return path.posix.normalize(event.path);
  const base = event.dirFd === AT_FDCWD || !event.dirPath ? event.context.cwd || "/" : event.dirPath;
  return path.posix.normalize(`${base}/${event.path}`);
}

/** A connect() address as text, and whether it leaves the sandbox's loopback (AF_INET/AF_INET6 only). */
export function describeAddress(sockaddr: Uint8Array): { text: string; network: boolean } | undefined {
  if (sockaddr.length < 2) return undefined;
  const view = new DataView(sockaddr.buffer, sockaddr.byteOffset, sockaddr.byteLength);
  const family = view.getUint16(0, true);
  if (family === 2 && sockaddr.length >= 8) {
    const ip = Array.from(sockaddr.subarray(4, 8)).join(".");
    return { text: `${ip}:${view.getUint16(2, false)}`, network: sockaddr[4] !== 127 };
  }
  if (family === 10 && sockaddr.length >= 24) {
    const bytes = sockaddr.subarray(8, 24);
    const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
    const loopback = bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1;
    const mappedLoopback = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
    return { text: `[${groups.join(":")}]:${view.getUint16(2, false)}`, network: !loopback && !mappedLoopback };
  }
  return undefined;
}
