// Turns a result's usage record into what the run page shows: charts with the limits the run ran under
// (memory limit, CPU quota, timeout) and a text alternative carrying the key numbers, the data table
// behind them and the exact peaks. A single sample is said in a sentence rather than drawn.
import { timeSeriesSvg } from "./charts";
import { formatBytes, formatDuration, formatNumber } from "./format";
import type { RunResult } from "./result";

type Usage = NonNullable<RunResult["usage"]>;
type Resources = NonNullable<RunResult["resources"]>;

export interface UsageChart {
  svg?: string;
  /** Text alternative: the chart's name and key numbers (or the sentence standing in for it). */
  caption: string;
}

/** Charts drawn from one list of samples, and that list as a table and a CSV file. */
export interface UsageGroup {
  heading: string;
  charts: UsageChart[];
  columns: string[];
  rows: string[][];
  /** File name of the CSV beside the run page. */
  csvFile: string;
}

interface Limit {
  value: number;
  label: string;
}

export function usageGroups(usage: Usage, resources: Resources = {}): UsageGroup[] {
  const groups: UsageGroup[] = [];
  const { samples, gpuSamples = [], peak } = usage;
  const span = Math.max(0, ...samples.map((s) => s.t), ...gpuSamples.map((s) => s.t));
  // The timeout is drawn when the run came near it; otherwise the line would flatten the chart.
  const timeout: Limit | undefined =
    resources.timeoutSeconds !== undefined && span >= 0.5 * resources.timeoutSeconds
      ? { value: resources.timeoutSeconds, label: `timeout ${formatDuration(resources.timeoutSeconds)}` }
      : undefined;
  if (samples.length > 0) {
    const memory = memoryUnit(Math.max(peak.memoryBytes, resources.memoryBytes ?? 0));
    const cpuQuota: Limit | undefined =
      resources.cpus !== undefined ? { value: resources.cpus * 100, label: `quota ${formatNumber(resources.cpus)} CPU` } : undefined;
    const memoryLimit: Limit | undefined =
      resources.memoryBytes !== undefined
        ? { value: resources.memoryBytes / memory.bytes, label: `limit ${formatBytes(resources.memoryBytes)}` }
        : undefined;
    const inMemoryUnit = (bytes: number) => bytes / memory.bytes;
    groups.push({
      heading: "CPU and memory",
      charts: [
        chart(
          "CPU",
          "% of one core",
          samples.map((s) => ({ t: s.t, value: s.cpuPercent })),
          peak.cpuPercent,
          cpuQuota,
          timeout,
        ),
        chart(
          "Memory",
          memory.name,
          samples.map((s) => ({ t: s.t, value: inMemoryUnit(s.memoryBytes) })),
          inMemoryUnit(peak.memoryBytes),
          memoryLimit,
          timeout,
        ),
      ],
      columns: ["Seconds", "CPU (% of one core)", `Memory (${memory.name})`],
      rows: samples.map((s) => [formatNumber(s.t), formatNumber(s.cpuPercent), formatNumber(s.memoryBytes / memory.bytes)]),
      csvFile: "usage.csv",
    });
  }
  if (gpuSamples.length > 0) {
    const memory = memoryUnit(peak.gpuMemoryBytes ?? Math.max(...gpuSamples.map((s) => s.memoryBytes)));
    groups.push({
      heading: "GPU",
      charts: [
        chart(
          "GPU utilisation",
          "%",
          gpuSamples.map((s) => ({ t: s.t, value: s.utilizationPercent })),
          peak.gpuUtilizationPercent,
          {
            value: 100,
            label: "100 %",
          },
          timeout,
        ),
        chart(
          "GPU memory",
          memory.name,
          gpuSamples.map((s) => ({ t: s.t, value: s.memoryBytes / memory.bytes })),
          peak.gpuMemoryBytes === undefined ? undefined : peak.gpuMemoryBytes / memory.bytes,
          undefined,
          timeout,
        ),
      ],
      columns: ["Seconds", "GPU utilisation (%)", `GPU memory (${memory.name})`],
      rows: gpuSamples.map((s) => [formatNumber(s.t), formatNumber(s.utilizationPercent), formatNumber(s.memoryBytes / memory.bytes)]),
      csvFile: "gpu-usage.csv",
    });
  }
  return groups;
}

/** The exact peaks (samples may be thinned, peaks never are), with the limit beside each. */
export function usagePeaks(usage: Usage, resources: Resources = {}): { name: string; value: string }[] {
  const { peak } = usage;
  const share = (value: number, limit: number | undefined) =>
    limit ? ` (${formatNumber(Number(((100 * value) / limit).toPrecision(3)))} % of the ${formatBytes(limit)} limit)` : "";
  const quota = resources.cpus !== undefined ? ` (quota ${formatNumber(resources.cpus)} CPU)` : "";
  return [
    { name: "Peak CPU", value: `${formatNumber(peak.cpuPercent)} % of one core${quota}` },
    { name: "Peak memory", value: `${formatBytes(peak.memoryBytes)}${share(peak.memoryBytes, resources.memoryBytes)}` },
    ...(peak.gpuUtilizationPercent === undefined
      ? []
      : [{ name: "Peak GPU utilisation", value: `${formatNumber(peak.gpuUtilizationPercent)} %` }]),
    ...(peak.gpuMemoryBytes === undefined ? [] : [{ name: "Peak GPU memory", value: formatBytes(peak.gpuMemoryBytes) }]),
  ];
}

function chart(
  name: string,
  unit: string,
  points: { t: number; value: number }[],
  peak: number | undefined,
  limit?: Limit,
  timeout?: Limit,
): UsageChart {
  if (points.length < 2) {
    const only = points[0]!;
    const value = `${formatNumber(only.value)} ${unit}`;
    return { caption: `${name}: one sample, at ${formatNumber(only.t)} s: ${value}. Nothing to draw a line through.` };
  }
  const values = points.map((p) => p.value);
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const span = points.at(-1)?.t ?? 0;
  const caption =
    `${name} (${unit}) over ${formatNumber(span)} s: peak ${formatNumber(peak ?? Math.max(...values))}, ` +
    `mean ${formatNumber(mean)}, ${points.length} samples${limit ? `; ${limit.label}` : ""}${timeout ? `; ${timeout.label}` : ""}.`;
  return { svg: timeSeriesSvg(points, `${name} (${unit})`, caption, { y: limit, x: timeout }), caption };
}

/** MiB for ordinary runs, GiB once the peak (or the limit) reaches one. */
function memoryUnit(peakBytes: number): { name: string; bytes: number } {
  return peakBytes >= 1024 ** 3 ? { name: "GiB", bytes: 1024 ** 3 } : { name: "MiB", bytes: 1024 ** 2 };
}
