import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { mkdir, open, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { CrucibleError, errorMessage } from "./errors.js";
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
 * Assigns whole GPUs to runs so that two concurrent jobs on one host never share one. Each assigned
 * device has a lease file created with O_EXCL, which is atomic across processes; a lease whose process
 * is gone (a crashed job) is taken over.
 */
export class GpuAllocator {
  constructor(
    private readonly leaseDir: string,
    private readonly devices: () => Promise<string[]>,
    private readonly isAlive: (pid: number) => boolean = processAlive,
  ) {}

  async allocate(count: number, owner: { runId: string; pid?: number }): Promise<GpuLease> {
    await mkdir(this.leaseDir, { recursive: true, mode: 0o700 });
    const all = await this.devices();
    if (count > all.length) throw new CrucibleError(`the experiment asks for ${count} GPU(s) but this runner has ${all.length}`);
    const taken: string[] = [];
    for (const device of all) {
      if (taken.length === count) break;
      if (await this.tryLease(device, owner)) taken.push(device);
    }
    const lease = { deviceIds: taken, release: () => this.release(taken, owner.runId) };
    if (taken.length < count) {
      await lease.release();
      throw new CrucibleError(
        `only ${taken.length} of the ${count} GPU(s) asked for are free on this runner (${all.length} in all); other runs hold the rest`,
      );
    }
    return lease;
  }

  private leaseFile(device: string): string {
    return path.join(this.leaseDir, `gpu-${device}.lease`);
  }

  private async tryLease(device: string, owner: { runId: string; pid?: number }): Promise<boolean> {
    const content = JSON.stringify({ runId: owner.runId, pid: owner.pid ?? process.pid, at: new Date().toISOString() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(this.leaseFile(device), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
        await handle.writeFile(content);
        await handle.close();
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = await readFile(this.leaseFile(device), "utf8").then(
        (t) => JSON.parse(t) as { pid?: number },
        () => ({}) as { pid?: number },
      );
      if (holder.pid !== undefined && this.isAlive(holder.pid)) return false;
      // The holder died without releasing: take the device over.
      await unlink(this.leaseFile(device)).catch(() => undefined);
    }
    return false;
  }

  private async release(devices: string[], runId: string): Promise<void> {
    for (const device of devices) {
      const holder = await readFile(this.leaseFile(device), "utf8").then(
        (t) => JSON.parse(t) as { runId?: string },
        () => ({}) as { runId?: string },
      );
      if (holder.runId === runId) await unlink(this.leaseFile(device)).catch(() => undefined);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
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
