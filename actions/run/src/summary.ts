import { behaviourLine, formatBytes, formatDuration, type Progress, type RunResult, STATUS_ICONS } from "../../lib/src/index.js";
import { escapeMarkdown } from "../../lib/src/github/index.js";

const MAX_SUMMARY_BYTES = 1000 * 1024;

/**
 * The step summary: status, provenance, metrics, resource peaks, latest progress and the log's last lines
 * (under 1 MiB). GitHub renders it as Markdown with HTML, and nearly all of it comes from the run, so it
 * is HTML blocks whose every value goes through escapeMarkdown: a value cannot break out of its cell,
 * start a block or become a link. The log's lines are a <pre> block of its own, which only "</pre>" ends.
 */
export function renderSummary(result: RunResult, resultPath: string, latestProgress?: Progress): string {
  const row = ([k, v]: [string, string]) => `<tr><th align="left">${escapeMarkdown(k)}</th><td>${escapeMarkdown(v)}</td></tr>`;
  const rows = (pairs: [string, string][]) => `<table>${pairs.map(row).join("")}</table>\n`;
  const parts: string[] = [];
  parts.push(`<h2>${STATUS_ICONS[result.status]} ${escapeMarkdown(result.experiment.name)}: ${escapeMarkdown(result.status)}</h2>\n`);
  parts.push(`<p>${escapeMarkdown(result.statusReason)}</p>\n`);
  parts.push(
    rows([
      ["Run", result.runId],
      ["Duration", formatDuration(result.durationSeconds)],
      ["Exit code", result.exitCode === null ? "none" : String(result.exitCode)],
      ["Runtime", `${result.runtime.name} ${result.runtime.version}`],
      ["Image", `${result.image.ref} (${result.image.id.slice(0, 19)})`],
      ["Behaviour", behaviourLine(result)],
      ["Result", resultPath],
    ]),
  );
  if (result.stages) {
    parts.push("<h3>Stages</h3>\n");
    const cell = (text: string) => `<td>${escapeMarkdown(text)}</td>`;
    const stageRow = (s: NonNullable<RunResult["stages"]>[number]) =>
      `<tr>${cell(s.name)}<td>${STATUS_ICONS[s.status]} ${escapeMarkdown(s.status)}</td>${cell(s.needs.join(", ") || "—")}` +
      `${cell(s.durationSeconds === undefined ? "—" : formatDuration(s.durationSeconds))}${cell(s.statusReason)}</tr>`;
    const head = "<tr><th>Stage</th><th>Status</th><th>Needs</th><th>Duration</th><th>Why</th></tr>";
    parts.push(`<table>${head}${result.stages.map(stageRow).join("")}</table>\n`);
  }
  if (result.storedArtifacts?.length) {
    parts.push("<h3>Stored artifacts</h3>\n");
    parts.push(rows(result.storedArtifacts.map((a) => [`${a.stage}/${a.path}`, `sha256 ${a.sha256} · ${formatBytes(a.size)}`])));
  }
  const metrics = Object.entries(result.metrics);
  if (metrics.length > 0) {
    parts.push("<h3>Metrics</h3>\n");
    const unit = (name: string) => result.metricInfo?.[name]?.unit;
    parts.push(rows(metrics.map(([k, v]) => [k, unit(k) ? `${v} ${unit(k)}` : String(v)])));
  }
  const peak = result.usage?.peak;
  if (peak) {
    parts.push("<h3>Resource peaks</h3>\n");
    const pairs: [string, string][] = [
      ["CPU", `${peak.cpuPercent.toFixed(0)}% of one core (limit ${result.resources.cpus} cores)`],
      ["Memory", `${formatBytes(peak.memoryBytes)} (limit ${formatBytes(result.resources.memoryBytes)})`],
    ];
    if (peak.gpuUtilizationPercent !== undefined)
      pairs.push(["GPU", `${peak.gpuUtilizationPercent.toFixed(0)}%, ${formatBytes(peak.gpuMemoryBytes ?? 0)}`]);
    parts.push(rows(pairs));
  }
  if (latestProgress) {
    const { step, total, ...rest } = latestProgress;
    parts.push("<h3>Latest progress</h3>\n");
    parts.push(rows([["step", `${step} / ${total}`], ...Object.entries(rest).map(([k, v]): [string, string] => [k, String(v)])]));
  }
  if (result.dropped.length > 0) {
    parts.push("<h3>Not collected</h3>\n");
    parts.push(rows(result.dropped.slice(0, 50).map((d) => [d.path, d.reason])));
  }
  parts.push("<h3>Last lines of the log</h3>\n");
  if (result.log.truncated) parts.push(`<p>The saved log reached its cap; ${result.log.lines} lines were written in all.</p>\n`);
  const log = `\n<pre>${result.log.tail.map(escapeMarkdown).join("\n")}</pre>\n`;
  let summary = parts.join("");
  if (Buffer.byteLength(summary) + Buffer.byteLength(log) > MAX_SUMMARY_BYTES) {
    summary = `${cut(summary, MAX_SUMMARY_BYTES / 4)}\n<p>(summary shortened)</p>\n`;
  }
  return `${summary}${log}`;
}

/** The first `max` characters, not ending inside a character reference or a tag. */
function cut(text: string, max: number): string {
  const head = text.slice(0, max);
  const open = Math.max(head.lastIndexOf("&"), head.lastIndexOf("<"));
  return open > head.lastIndexOf(";") && open > head.lastIndexOf(">") ? head.slice(0, open) : head;
}
