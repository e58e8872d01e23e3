import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CrucibleError, errorMessage } from "./errors.js";
import { currentProcess } from "./owner.js";
import { SandboxSlots, type SlotLease } from "./slot-leases.js";
import type { GpuSample } from "./usage.js";

const execFileAsync = promisify(execFile);

/** The GPUs this host has, by device index as Docker's DeviceIDs name them. */
export async function listGpus(nvidiaSmi = "nvidia-smi"): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync(nvidiaSmi, ["--query-gpu=index", "--format=csv,noheader"], { timeout: 30_000 });
    return stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^\d+$/.test(l));
  } catch (error) {
    throw new CrucibleError(`cannot list GPUs with ${nvidiaSmi}: ${errorMessage(error)}. Is the NVIDIA driver installed on this runner?`);
  }
}

export interface GpuLease {
  deviceIds: string[];
  release(): Promise<void>;
}

/**
 * Assigns whole GPUs to runs so that two concurrent jobs on one host never share one: device i of the
 * host's list is slot i of a SandboxSlots pool in the lease folder, so a lease is created complete and
 * atomically, and a lease whose process is gone (a crashed job) is taken over as the sandbox slots' are.
 */
export class GpuAllocator {
  constructor(
    private readonly leaseDir: string,
    private readonly devices: () => Promise<string[]>,
  ) {}

  async allocate(count: number, owner: { runId: string }): Promise<GpuLease> {
    const all = await this.devices();
    if (count > all.length) throw new CrucibleError(`the experiment asks for ${count} GPU(s) but this runner has ${all.length}`);
    const slots = new SandboxSlots(this.leaseDir, all.length);
    const self = await currentProcess();
    const leases: SlotLease[] = [];
    const release = async () => {
      for (const lease of leases) await lease.release();
    };
    while (leases.length < count) {
      const lease = await slots.tryAcquire(owner.runId, self);
      if (!lease) {
        await release();
        throw new CrucibleError(
          `only ${leases.length} of the ${count} GPU(s) asked for are free on this runner (${all.length} in all); other runs hold the rest`,
        );
      }
      leases.push(lease);
    }
    return { deviceIds: leases.map((lease) => all[lease.slot]!), release };
  }
}

/** Parses `nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits` for the given devices. */
export function parseGpuUsage(csv: string, deviceIds: string[], t: number): GpuSample | undefined {
  const rows = csv
    .split("\n")
    .map((line) => line.split(",").map((cell) => cell.trim()))
    .filter((cells) => cells.length === 3 && deviceIds.includes(cells[0]!));
  if (rows.length === 0) return undefined;
  const utilization = rows.reduce((sum, cells) => sum + (Number(cells[1]) || 0), 0) / rows.length;
  const memoryMiB = rows.reduce((sum, cells) => sum + (Number(cells[2]) || 0), 0);
  return { t, utilizationPercent: Math.round(utilization * 10) / 10, memoryBytes: memoryMiB * 1024 * 1024 };
}

/** Samples the assigned GPUs every few seconds until stopped. */
export function sampleGpus(
  deviceIds: string[],
  onSample: (sample: GpuSample) => void,
  intervalMs = 5_000,
  nvidiaSmi = "nvidia-smi",
): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    execFile(
      nvidiaSmi,
      ["--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
      { timeout: 10_000 },
      (error, stdout) => {
        const sample = error ? undefined : parseGpuUsage(stdout, deviceIds, (Date.now() - started) / 1000);
        if (sample) onSample(sample);
      },
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
