import { open, readFile, readlink, rm } from "node:fs/promises";
import { parseJsonWithin } from "./limits.js";

/**
 * Every sandbox records the process that owns it, so a sandbox whose owner died without cleaning up
 * (a runner killed with SIGKILL, a crashed host process) can be told from one whose owner is still at
 * work. A process is named by the boot of the host it runs on, its PID namespace, its pid and its start
 * time: a pid alone is reused, and a pid from another host or namespace means nothing here.
 */
export interface ProcessIdentity {
  bootId: string;
  pidNamespace: string;
  pid: number;
  /** Start time in clock ticks after boot (field 22 of /proc/<pid>/stat). */
  startTime: string;
}

export const OWNER_LABELS = {
  bootId: "crucible.owner.boot-id",
  pidNamespace: "crucible.owner.pid-namespace",
  pid: "crucible.owner.pid",
  startTime: "crucible.owner.start-time",
} as const;

/** State and start time of a process from /proc, or undefined when there is no such process. */
async function processStat(pid: number, procRoot: string): Promise<{ state: string; startTime: string } | undefined> {
  const stat = await readFile(`${procRoot}/${pid}/stat`, "utf8").catch(() => undefined);
  if (!stat) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields are counted after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, startTime: fields[19]! };
}

/** This process, or undefined where /proc does not tell (not Linux). */
export async function currentProcess(procRoot = "/proc"): Promise<ProcessIdentity | undefined> {
  try {
    const [bootId, pidNamespace, stat] = await Promise.all([
      readFile(`${procRoot}/sys/kernel/random/boot_id`, "utf8"),
      readlink(`${procRoot}/self/ns/pid`),
      processStat(process.pid, procRoot),
    ]);
    if (!stat) return undefined;
    return { bootId: bootId.trim(), pidNamespace, pid: process.pid, startTime: stat.startTime };
  } catch {
    return undefined;
  }
}

export function ownerLabels(owner: ProcessIdentity | undefined): Record<string, string> {
  if (!owner) return {};
  return {
    [OWNER_LABELS.bootId]: owner.bootId,
    [OWNER_LABELS.pidNamespace]: owner.pidNamespace,
    [OWNER_LABELS.pid]: String(owner.pid),
    [OWNER_LABELS.startTime]: owner.startTime,
  };
}

export type OwnerState =
  /** The owner runs on this host, in this PID namespace, and is the very process that created the sandbox. */
  | { state: "alive"; pid: number }
  /** The owner was on this host and in this namespace, and that process no longer exists (or is a zombie). */
  | { state: "gone"; pid: number; reason: string }
  /** No owner recorded, or one on another host or boot, or in another PID namespace: nothing can be said. */
  | { state: "unknown" };

/**
 * Whether the process recorded in a sandbox's labels still exists. Only "gone" allows removing a running
 * sandbox, and it is said only when boot id and PID namespace are this process's own, so a pid is
 * looked up where it means the same process.
 */
export async function ownerState(
  labels: Record<string, string>,
  self: ProcessIdentity | undefined,
  procRoot = "/proc",
): Promise<OwnerState> {
  const pid = Number(labels[OWNER_LABELS.pid]);
  const startTime = labels[OWNER_LABELS.startTime];
  if (!self || !Number.isInteger(pid) || pid <= 0 || !startTime) return { state: "unknown" };
  if (labels[OWNER_LABELS.bootId] !== self.bootId || labels[OWNER_LABELS.pidNamespace] !== self.pidNamespace) return { state: "unknown" };
  const stat = await processStat(pid, procRoot);
  if (!stat) return { state: "gone", pid, reason: `its owner process ${pid} on this host is gone` };
  if (stat.startTime !== startTime) {
    return { state: "gone", pid, reason: `its owner process ${pid} on this host is gone (the pid now belongs to another process)` };
  }
  if (stat.state === "Z" || stat.state === "X") return { state: "gone", pid, reason: `its owner process ${pid} on this host has exited` };
  return { state: "alive", pid };
}

/**
 * Takes a host-wide lock: a file created exclusively, naming its owner process as sandboxes do (boot, PID
 * namespace, pid, start time: pids are reused quickly on a busy host); a lock whose owner is gone is taken
 * over. Waits up to `waitMs` for a live holder (told once through `onWait`), then throws what `busy` makes.
 * The caller removes the file when done.
 */
export async function acquireOwnerLock(
  file: string,
  waitMs: number,
  busy: (holder: Exclude<OwnerState, { state: "gone" }>) => Error,
  onWait?: (holder: Exclude<OwnerState, { state: "gone" }>) => void,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  const self = await currentProcess();
  let told = false;
  for (;;) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(JSON.stringify(ownerLabels(self)));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let labels: Record<string, string> = {};
    try {
      labels = parseJsonWithin(await readFile(file, "utf8"), { maxBytes: 4096, maxDepth: 2 }) as Record<string, string>;
    } catch {
      // Unreadable: a lock being written this instant, or garbage; judged "unknown" below and waited for.
    }
    const holder = await ownerState(labels, self);
    if (holder.state === "gone") {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) throw busy(holder);
    if (!told) onWait?.(holder);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
