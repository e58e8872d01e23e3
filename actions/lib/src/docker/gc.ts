import { readdir, readFile } from "node:fs/promises";
import type Docker from "dockerode";
import { currentProcess, ownerState } from "../owner.js";
import { MANAGED_LABEL } from "../sandbox/sandbox.js";
import { removeSandbox } from "./provider.js";

export interface GarbageReport {
  containers: { id: string; name: string; reason: string }[];
  processes: { pid: number; command: string; reason: string }[];
}

export interface GarbageOptions {
  /** Remove every Crucible container carrying this label (a job's post step passes the job's own). */
  label?: string;
  /** Consider only containers that also carry this label (tests on a shared Docker daemon). */
  scope?: string;
  now?: Date;
}

/**
 * Removes sandboxes that outlived their run. With `label`, every Crucible container carrying it goes.
 * Without, a sandbox goes when its owner process on this host is gone (owner.ts; its scratch space is
 * freed too), when it has exited and its owner is not known to be alive, or when it runs past its
 * deadline. Then runsc processes whose container Docker no longer knows (left by a failed start) are
 * killed.
 */
export async function collectGarbage(docker: Docker, options: GarbageOptions = {}): Promise<GarbageReport> {
  const now = options.now ?? new Date();
  const self = await currentProcess();
  const report: GarbageReport = { containers: [], processes: [] };
  const filters = [options.label ?? `${MANAGED_LABEL}=true`, ...(options.scope ? [options.scope] : [])];
  const containers = await docker.listContainers({ all: true, filters: { label: filters } });
  for (const info of containers) {
    if (info.Labels[MANAGED_LABEL] !== "true") continue;
    const deadline = Date.parse(info.Labels["crucible.deadline"] ?? "");
    const owner = options.label ? undefined : await ownerState(info.Labels, self);
    const reason = options.label
      ? `belongs to ${options.label}`
      : owner?.state === "gone"
        ? owner.reason
        : info.State !== "running" && owner?.state !== "alive"
          ? `not running (${info.State})`
          : !Number.isNaN(deadline) && deadline < now.getTime()
            ? `${info.State === "running" ? "running" : "left"} past its deadline ${info.Labels["crucible.deadline"]}`
            : undefined;
    if (!reason) continue;
    await removeSandbox(docker, info, { releaseScratch: options.label !== undefined || owner?.state === "gone" });
    report.containers.push({ id: info.Id, name: info.Names[0] ?? info.Id.slice(0, 12), reason });
  }

  for (const proc of await runscProcesses()) {
    const known = await docker
      .getContainer(proc.containerId)
      .inspect()
      .then(() => true)
      .catch((error: { statusCode?: number }) => error.statusCode !== 404);
    if (known) continue;
    try {
      process.kill(proc.pid, "SIGKILL");
      report.processes.push({
        pid: proc.pid,
        command: proc.command,
        reason: `its container ${proc.containerId.slice(0, 12)} no longer exists`,
      });
    } catch {
      // Already gone.
    }
  }
  return report;
}

/** runsc processes on this host and the Docker container each serves (from its --log or bundle path). */
export async function runscProcesses(procRoot = "/proc"): Promise<{ pid: number; command: string; containerId: string }[]> {
  const found: { pid: number; command: string; containerId: string }[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`${procRoot}/${entry}/cmdline`, "utf8").catch(() => "");
    const argv = cmdline.split("\0").filter(Boolean);
    if (!argv[0] || !/^(runsc|runsc-gofer|runsc-sandbox)$/.test(argv[0].split("/").pop() ?? "")) continue;
    const containerId = /\/moby\/([0-9a-f]{64})(\/|$)/.exec(argv.join(" "))?.[1];
    if (containerId) found.push({ pid: Number(entry), command: argv[0], containerId });
  }
  return found;
}
