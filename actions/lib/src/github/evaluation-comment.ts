// The one comment Crucible keeps on a pull request, through every state of its evaluation: awaiting
// approval (what will run, on which commit, for how long), then the results (each run's status and
// headline metrics against the default branch's latest run, with links), or why nothing ran (rejected,
// superseded by a push, cancelled, closed). Results come from sandboxed programs: every value they hold
// goes through escapeMarkdown, and links must be http(s).
import { formatDuration } from "../relay.js";
import { STATUS_ICONS, type Approval, type RecordedResult } from "../result/format.js";
import { compareUrl, commitUrl, totalMinutes, type EvaluationPlan } from "../gitops/evaluation.js";
import type { DroppedEntry } from "./artifacts.js";
import { DIGEST } from "../image-source.js";
import { behaviourLine } from "../monitoring/report.js";
import { escapeMarkdown, link } from "./markdown.js";

export const EVALUATION_MARKER = "<!-- crucible:evaluation -->";

const MAX_ROWS = 50;
const MAX_REASON = 200;
const MAX_HEADLINE = 4;
const MAX_DROPPED = 20;

export interface ResultRow {
  result: RecordedResult;
  /** The latest recorded run of the same experiment on the default branch, to compare with. */
  baseline?: RecordedResult;
}

export type NotRunReason = "rejected" | "superseded" | "cancelled" | "closed" | "failed";

export type CommentState =
  | { kind: "plan"; plan: EvaluationPlan }
  | {
      kind: "results";
      plan: EvaluationPlan;
      rows: ResultRow[];
      dropped: DroppedEntry[];
      recordedIn?: string;
      previewUrl?: string;
      notRun?: { dir: string; reason: string }[];
    }
  | { kind: "not-run"; plan: EvaluationPlan; reason: NotRunReason; detail: string; dropped: DroppedEntry[] };

export function renderEvaluationComment(state: CommentState): string {
  const { plan } = state;
  const lines: string[] = [];
  const head = code(plan.head);
  const compare = link(`${plan.base.slice(0, 7)}…${plan.head.slice(0, 7)}`, compareUrl(plan));
  const run = link("this workflow run", plan.workflowRunUrl);
  if (state.kind === "plan") {
    if (plan.state === "planned") {
      lines.push(`### 🧪 Crucible evaluation: awaiting approval`, "");
      lines.push(`Head commit ${head} (changes: ${compare}) · ${escapeMarkdown(plan.trigger)}`, "");
      lines.push(...planTable(plan), "");
      if (plan.experiments.some((e) => e.build)) {
        lines.push(
          "An experiment's own image was built from its Dockerfile by a GitHub-hosted runner; the sandbox host runs it " +
            "only if its digest is the one shown here, and refuses any other.",
          "",
        );
      }
      const experiments = `${plan.experiments.length} experiment${plural(plan.experiments.length)}`;
      const minutes = `${totalMinutes(plan)} runner-minute${plural(totalMinutes(plan))}`;
      lines.push(
        `**${experiments}, about ${minutes}** (from each experiment's latest recorded run, or its timeout when it never ran).`,
        "",
      );
      lines.push(
        `A required reviewer of the \`evaluation\` environment approves or rejects ${run ?? "the workflow run"}. ` +
          "The approval applies to exactly this commit: if the pull request moves before the sandbox starts, nothing runs " +
          "and the new commit is planned again.",
      );
    } else if (plan.state === "invalid") {
      lines.push(`### ❌ Crucible evaluation: the experiments are invalid`, "");
      lines.push(`Head commit ${head} (changes: ${compare}). Nothing will run until these are fixed:`, "");
      for (const issue of plan.issues.slice(0, 50))
        lines.push(`- ${code(`${issue.file}:${issue.line}:${issue.column}`)} ${escapeMarkdown(issue.message)}`);
    } else {
      lines.push(`### Crucible evaluation: nothing to evaluate`, "", `Head commit ${head} changes no experiment.`);
    }
  } else if (state.kind === "not-run") {
    const title: Record<NotRunReason, string> = {
      rejected: "⛔ rejected",
      superseded: "↪️ superseded",
      cancelled: "🚫 cancelled",
      closed: "🚫 cancelled: the pull request was closed",
      failed: "⚠️ did not run",
    };
    lines.push(`### Crucible evaluation: ${title[state.reason]}`, "");
    lines.push(`Head commit ${head} (changes: ${compare}). ${escapeMarkdown(state.detail)}`);
    if (run) lines.push("", `See ${run}.`);
    lines.push(...droppedList(state.dropped));
  } else {
    const rows = state.rows;
    const succeeded = rows.filter((r) => r.result.status === "succeeded").length;
    lines.push(`### Crucible evaluation: ${succeeded} of ${rows.length} run${plural(rows.length)} succeeded`, "");
    const approvals = approvalsOf(rows);
    lines.push(`Evaluated ${head} (changes: ${compare})${approvals ? `, approved by ${approvals}` : ""}.`, "");
    lines.push(
      `| Experiment | Status | Headline metrics (change against ${escapeMarkdown(plan.baseRef)}) | Links |`,
      "| --- | --- | --- | --- |",
    );
    for (const row of rows.slice(0, MAX_ROWS)) lines.push(resultRow(row, plan));
    if (rows.length > MAX_ROWS) lines.push("", `…and ${rows.length - MAX_ROWS} more runs, not shown.`);
    lines.push(...broughtImages(rows.slice(0, MAX_ROWS)));
    for (const missing of state.notRun ?? []) lines.push("", `- ${code(missing.dir)}: ${escapeMarkdown(missing.reason)}`);
    const tail: string[] = [];
    if (state.recordedIn)
      tail.push(`Recorded in ${link(state.recordedIn, commitUrl(plan, state.recordedIn)) ?? escapeMarkdown(state.recordedIn)}.`);
    const preview = link("crucible-report", state.previewUrl);
    if (preview) tail.push(`Report preview: the ${preview} artifact of this workflow run (the site shows it after merge).`);
    if (tail.length > 0) lines.push("", tail.join(" "));
    lines.push(...droppedList(state.dropped));
  }
  return `${lines.join("\n")}\n`;
}

/** Text as code: an HTML element, because a Markdown code span would show the escaping entities literally. */
function code(text: string): string {
  return `<code>${escapeMarkdown(text)}</code>`;
}

function plural(n: number): string {
  return n === 1 ? "" : "s";
}

function planTable(plan: EvaluationPlan): string[] {
  const rows = plan.experiments.slice(0, MAX_ROWS).map((e) => {
    const r = e.resources;
    const estimate =
      e.estimate.basis === "previous run" ? `~${e.estimate.minutes} min (last run)` : `≤ ${e.estimate.minutes} min (timeout)`;
    const built = e.builtImage
      ? `<br><sub>${builtImageParts(e.builtImage).join(" · ")}</sub>`
      : e.build
        ? "<br><sub>⚠️ not built: the build job left no image, so this experiment will be refused</sub>"
        : "";
    // Declared behaviours are not alerted on, so the reviewer sees them before approving.
    const declared = e.behaviours?.length ? `<br><sub>declares: ${escapeMarkdown(e.behaviours.join(", "))}</sub>` : "";
    const cells = [
      `${code(e.dir)}${e.stages ? ` (${e.stages} stages)` : ""}${declared}`,
      `${escapeMarkdown(e.image)}${built}`,
      String(r.cpus),
      escapeMarkdown(r.memory),
      String(r.gpus ?? 0),
      escapeMarkdown(r.timeout),
      estimate,
    ];
    return `| ${cells.join(" | ")} |`;
  });
  const more = plan.experiments.length - rows.length;
  return [
    "| Experiment | Image | CPUs | Memory | GPUs | Timeout | Estimate |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    ...(more > 0 ? ["", `…and ${more} more experiments, not shown.`] : []),
  ];
}

function approvalsOf(rows: ResultRow[]): string {
  const seen = new Map<string, Approval>();
  for (const row of rows)
    for (const a of row.result.provenance.approvals ?? []) if (a.state === "approved" && !seen.has(a.reviewer)) seen.set(a.reviewer, a);
  // `at` is a validated date-time: digits and separators only, which Markdown leaves alone.
  const when = (at: string) =>
    at
      .replace(/[^0-9T:.Z+-]/g, "")
      .replace("T", " ")
      .replace(/(\.\d+)?Z$/, " UTC");
  return [...seen.values()].map((a) => `${escapeMarkdown(a.reviewer)} (${when(a.at)})`).join(", ");
}

function resultRow(row: ResultRow, plan: EvaluationPlan): string {
  const { result } = row;
  const reason = result.statusReason.length > MAX_REASON ? `${result.statusReason.slice(0, MAX_REASON)}…` : result.statusReason;
  const behaviour = result.monitoring ? `<br><sub>behaviour: ${escapeMarkdown(behaviourLine(result))}</sub>` : "";
  const shownReason = reason ? `<br><sub>${escapeMarkdown(reason)}</sub>` : "";
  const status = `${STATUS_ICONS[result.status]} ${escapeMarkdown(result.status)}${shownReason}${behaviour}`;
  const names = headlineNames(result);
  const shown = names.slice(0, MAX_HEADLINE).map((name) => metricWithChange(name, row));
  const more = Object.keys(result.metrics).length - shown.length;
  if (more > 0) shown.push(`+${more} more`);
  const links = [link("job log", result.provenance.jobUrl), link("report", reportPageUrl(plan.reportUrl, result))].filter(
    (l) => l !== null,
  );
  const cells = [
    `${escapeMarkdown(result.experiment.name)}<br>` +
      `<sub>${escapeMarkdown(result.runId)} · ${escapeMarkdown(formatDuration(result.durationSeconds))}</sub>`,
    status,
    shown.join("<br>") || "—",
    links.join(" · ") || "—",
  ];
  return `| ${cells.join(" | ")} |`;
}

/** The experiment's declared headline metrics that the run has, else its first metrics. */
export function headlineNames(result: RecordedResult): string[] {
  const declared = (result.experiment.headline ?? []).map((h) => h.metric).filter((name) => name in result.metrics);
  return declared.length > 0 ? declared : Object.keys(result.metrics).slice(0, MAX_HEADLINE);
}

function metricWithChange(name: string, row: ResultRow): string {
  const value = row.result.metrics[name]!;
  const unit = row.result.metricInfo?.[name]?.unit;
  const text = `${escapeMarkdown(name)} = ${escapeMarkdown(formatNumber(value))}${unit ? ` ${escapeMarkdown(unit)}` : ""}`;
  const before = row.baseline?.metrics[name];
  if (before === undefined) return row.baseline ? `${text} (new)` : text;
  const delta = value - before;
  if (delta === 0) return `${text} (＝ ${escapeMarkdown(formatNumber(before))})`;
  const better = row.result.experiment.headline?.find((h) => h.metric === name)?.better ?? "neither";
  const verdict = better === "neither" ? "" : delta > 0 === (better === "higher") ? ", better" : ", worse";
  const sign = delta > 0 ? "+" : "−";
  const change = `${sign}${escapeMarkdown(formatNumber(Math.abs(delta)))}`;
  return `${text} (${delta > 0 ? "▲" : "▼"} ${change} vs ${escapeMarkdown(formatNumber(before))}${verdict})`;
}

/** An image an experiment brought, as the comment shows it: its digest, and the Dockerfile and base it was built from. */
function builtImageParts(image: { digest: string; dockerfileHash?: string; baseImage?: string }): string[] {
  const parts = [`digest ${digestCode(image.digest)}`];
  if (image.dockerfileHash) parts.push(`Dockerfile ${digestCode(image.dockerfileHash)}`);
  if (image.baseImage) parts.push(`base ${code(image.baseImage)}`);
  return parts;
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

/** The images experiments brought (a Dockerfile or a pinned reference): what ran, by digest. */
function broughtImages(rows: ResultRow[]): string[] {
  const brought = rows.filter((r) => r.result.image.digest);
  if (brought.length === 0) return [];
  const lines = ["", "**Images the experiments brought** (a rerun with `crucible run --image-digest` uses exactly these):"];
  for (const { result } of brought) {
    const { image } = result;
    const origin = image.source === "registry" ? `pulled ${code(image.name)}` : `built from ${code(image.name.replace(/^build:/, ""))}`;
    lines.push(
      `- ${escapeMarkdown(result.experiment.name)} (${origin}): ${builtImageParts({ ...image, digest: image.digest! }).join(" · ")}`,
    );
  }
  return lines;
}

/** A digest of the checked shape goes in as it is, so a reviewer can copy it; anything else is escaped. */
function digestCode(digest: string): string {
  return DIGEST.test(digest) ? `<code>${digest}</code>` : code(digest);
}

function droppedList(dropped: DroppedEntry[]): string[] {
  if (dropped.length === 0) return [];
  const lines = ["", `**Ignored from the evaluate jobs' artifacts** (${dropped.length}; nothing of it was committed):`];
  for (const d of dropped.slice(0, MAX_DROPPED)) lines.push(`- ${code(d.path)}: ${escapeMarkdown(d.reason)}`);
  if (dropped.length > MAX_DROPPED) lines.push(`- …and ${dropped.length - MAX_DROPPED} more`);
  return lines;
}

/** The run's page on the report site, or null without a site. */
export function reportPageUrl(reportUrl: string | undefined, result: Pick<RecordedResult, "experiment" | "runId">): string | null {
  if (!reportUrl) return null;
  return `${reportUrl.replace(/\/+$/, "")}/runs/${encodeURIComponent(result.experiment.name)}/${encodeURIComponent(result.runId)}/`;
}
