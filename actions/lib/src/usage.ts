import type { ResourceSample } from "./sandbox/sandbox.js";
import { formatBytes } from "./units.js";

/** GPU usage of the devices assigned to a run, at one moment. */
export interface GpuSample {
  t: number;
  utilizationPercent: number;
  memoryBytes: number;
}

export interface UsagePeaks {
  cpuPercent: number;
  memoryBytes: number;
  gpuUtilizationPercent?: number;
  gpuMemoryBytes?: number;
}

/** result.json "usage": the time series and its peaks. */
export interface UsageRecord {
  samples: ResourceSample[];
  gpuSamples?: GpuSample[];
  peak: UsagePeaks;
}

/** Most points kept per series: long runs are thinned evenly, peaks are always exact. */
const MAX_POINTS = 600;

/** Collects resource samples of one run, thinning long series and tracking exact peaks. */
export class UsageMonitor {
  private samples: ResourceSample[] = [];
  private gpuSamples: GpuSample[] = [];
  private stride = 1;
  private seen = 0;
  readonly peak: UsagePeaks = { cpuPercent: 0, memoryBytes: 0 };

  add(sample: ResourceSample): void {
    this.peak.cpuPercent = Math.max(this.peak.cpuPercent, sample.cpuPercent);
    this.peak.memoryBytes = Math.max(this.peak.memoryBytes, sample.memoryBytes);
    if (this.seen++ % this.stride === 0) this.samples.push(sample);
    if (this.samples.length > MAX_POINTS) {
      this.samples = this.samples.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }

  addGpu(sample: GpuSample): void {
    this.peak.gpuUtilizationPercent = Math.max(this.peak.gpuUtilizationPercent ?? 0, sample.utilizationPercent);
    this.peak.gpuMemoryBytes = Math.max(this.peak.gpuMemoryBytes ?? 0, sample.memoryBytes);
    if (this.gpuSamples.length < MAX_POINTS * 2) this.gpuSamples.push(sample);
  }

  /**
   * Adds another monitor's record (one stage of a run) as if sampled `offsetSeconds` later: its samples
   * join this series and its exact peaks count, though thinning may have dropped the samples they came from.
   */
  addRecord(record: UsageRecord, offsetSeconds: number): void {
    for (const sample of record.samples) this.add({ ...sample, t: sample.t + offsetSeconds });
    for (const sample of record.gpuSamples ?? []) this.addGpu({ ...sample, t: sample.t + offsetSeconds });
    this.peak.cpuPercent = Math.max(this.peak.cpuPercent, record.peak.cpuPercent);
    this.peak.memoryBytes = Math.max(this.peak.memoryBytes, record.peak.memoryBytes);
    if (record.peak.gpuUtilizationPercent !== undefined)
      this.peak.gpuUtilizationPercent = Math.max(this.peak.gpuUtilizationPercent ?? 0, record.peak.gpuUtilizationPercent);
    if (record.peak.gpuMemoryBytes !== undefined)
      this.peak.gpuMemoryBytes = Math.max(this.peak.gpuMemoryBytes ?? 0, record.peak.gpuMemoryBytes);
  }

  get latest(): ResourceSample | undefined {
    return this.samples.at(-1);
  }

  record(): UsageRecord {
    return { samples: this.samples, ...(this.gpuSamples.length ? { gpuSamples: this.gpuSamples } : {}), peak: { ...this.peak } };
  }
}

/**
 * A handler for the run's `sample` events that writes one compact resource line at most every
 * `seconds`, so a live log shows usage without a line per second.
 */
export function resourceLines(write: (line: string) => void, seconds = 10): (sample: ResourceSample, peak: UsagePeaks) => void {
  let last = -Infinity;
  return (sample, peak) => {
    if (sample.t - last < seconds) return;
    last = sample.t;
    write(
      `resources at ${sample.t.toFixed(0)}s: cpu ${sample.cpuPercent.toFixed(0)}% · memory ` +
        `${formatBytes(sample.memoryBytes)} (peak ${formatBytes(peak.memoryBytes)})`,
    );
  };
}
