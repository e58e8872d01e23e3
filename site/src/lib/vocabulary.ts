// The site's one vocabulary: what each word means and which colour it gets. A run's status says whether
// the program finished; a containment verdict says whether an attack got out; a technique's outcome says
// what one attempt achieved. They use different words, and a colour means the same thing wherever it
// appears: green is "safe or better", red is "got out, broke or worse", amber "stopped at a limit",
// blue "finished, no judgement", grey "did not run". The glossary page lists every term from here.
import type { StageStatus } from "./result";

export type Tone = "safe" | "danger" | "limit" | "done" | "idle";

export const statusTone: Record<StageStatus, Tone> = {
  succeeded: "done",
  failed: "danger",
  "sandbox-error": "danger",
  "timed-out": "limit",
  "oom-killed": "limit",
  cancelled: "idle",
  rejected: "idle",
  superseded: "idle",
  skipped: "idle",
};

/** What each status says, one sentence (the glossary, and the title of every status badge). */
export const statusMeaning: Record<StageStatus, string> = {
  succeeded: "The program ran to the end and exited with code 0. Says nothing about what it found or whether an attack got out.",
  failed: "The program exited with a non-zero code.",
  "timed-out": "The program was killed at the experiment's wall-clock limit.",
  "oom-killed": "The program was killed at the experiment's memory limit.",
  cancelled: "A person or the workflow stopped the run.",
  "sandbox-error": "The sandbox runtime failed to start the program or crashed.",
  rejected: "The runner's policy refused to start the run; nothing ran.",
  superseded:
    "The pull request's head moved after the run was approved, so the approved commit was no longer what it asked for; nothing ran.",
  skipped: "A stage that did not run because a stage it needs did not succeed.",
};

export type Verdict = "contained" | "breached";

export const verdictTone: Record<Verdict, Tone> = { contained: "safe", breached: "danger" };

export const verdictMeaning: Record<Verdict, string> = {
  contained: "Every host-side check passed after the attack, it ended in a status it was expected to, and none of its techniques got out.",
  breached: "A host-side check failed or a technique got out of the runtime it ran under.",
};

/** A containment technique's outcome as the matrix records it, and the words the site shows for it. */
export type TechniqueOutcome = "blocked" | "contained" | "succeeded";

export const outcomeWord: Record<TechniqueOutcome, string> = { blocked: "blocked", contained: "held", succeeded: "got out" };
export const outcomeTone: Record<TechniqueOutcome, Tone> = { blocked: "safe", contained: "safe", succeeded: "danger" };
export const outcomeMeaning: Record<TechniqueOutcome, string> = {
  blocked: "The attempt failed: the runtime refused it.",
  contained: "The attempt ran, but reached only the sandbox's own state or stopped at a limit (recorded as “contained” in matrix.json).",
  succeeded: "The attempt reached the host or learned real host information (recorded as “succeeded” in matrix.json).",
};

/** Symbols that carry a tone without colour (for readers who do not see it, and for print). */
export const toneSymbol: Record<Tone, string> = { safe: "✓", danger: "✕", limit: "■", done: "●", idle: "○" };

export interface GlossaryEntry {
  id: string;
  term: string;
  meaning: string;
  tone?: Tone;
}

export const runtimeTerms: GlossaryEntry[] = [
  {
    id: "sandboxed",
    term: "gVisor (runsc)",
    meaning:
      "The sandbox every experiment runs in: gVisor's runsc runtime, with its version. " +
      "Every count, headline and “latest run” on this site is of runs under runsc.",
    tone: "safe",
  },
  {
    id: "baseline",
    term: "baseline — not sandboxed (runc)",
    meaning:
      "A run under plain runc, Docker's default runtime, which shares the host kernel. Only the containment suite runs these, to show " +
      "what gVisor stops that runc lets through. Baselines are never counted as sandboxed runs.",
    tone: "danger",
  },
];

export const metricTerms: GlossaryEntry[] = [
  {
    id: "headline",
    term: "headline metric",
    meaning:
      "A metric an experiment declares (in experiment.yaml's headline list) as saying what it found, with the direction that is better: " +
      "higher, lower, or neither.",
  },
  {
    id: "previous-run",
    term: "previous run",
    meaning:
      "The newest earlier run of the same experiment under the same kind of runtime; run pages compare their headline metrics with it.",
  },
  {
    id: "better",
    term: "better / worse",
    meaning:
      "A change in the direction the experiment declared better is shown green, the other way red; metrics without a declared direction " +
      "are shown without colour.",
  },
  {
    id: "auroc",
    term: "AUROC",
    meaning:
      "Area under the ROC curve: the chance that a probe scores a random positive example above a random negative one. 0.5 is chance, 1 " +
      "is perfect; shown to 3 decimals.",
  },
  {
    id: "tpr-at-fpr",
    term: "TPR at 1 % FPR",
    meaning: "The share of positives a probe catches when its threshold lets through at most 1 % false positives.",
  },
  {
    id: "persistence",
    term: "persistence",
    meaning:
      "Triggered backdoor activation after safety training as a percentage of before. Above 100 % means the backdoor fired a little more " +
      "often after safety training than before: none of it was removed.",
  },
  {
    id: "activation-rate",
    term: "activation rate",
    meaning: "The share of prompts on which the model showed its backdoor behaviour; shown as a percentage.",
  },
];

export const logTerms: GlossaryEntry[] = [
  { id: "stage-time", term: "stage time", meaning: "Seconds since the stage's sandbox started relaying output, as written in log.txt." },
  { id: "run-time", term: "run time", meaning: "Seconds since the run started: the stage's start plus its stage time." },
  {
    id: "local-run",
    term: "local run",
    meaning:
      "A run started with crucible run on a machine rather than by the evaluate workflow: it has no pull request, approval or Actions " +
      "job.",
  },
];

/** A monitoring alert's severity (runner-setup/monitoring-rules.json): red for high, amber for medium. */
export type Severity = "high" | "medium" | "low";

export const severityTone: Record<Severity, Tone> = { high: "danger", medium: "limit", low: "done" };

export const behaviourTerms: GlossaryEntry[] = [
  {
    id: "alert",
    term: "alert",
    meaning:
      "A behaviour-monitoring rule that fired: gVisor's trace points saw the program try something the runner's rules flag (a network " +
      "connection, a shell, a namespace or mount call, a write under /proc/sys). An alert says what was tried, not that it worked.",
  },
  {
    id: "alert-kind",
    term: "alert kind",
    meaning:
      "What an alert is about, in the containment suite's categories: network, filesystem, resources, privilege, recon, persistence " +
      "or injection (each rule has one). The containment page counts an attack as detected only by an alert of its own kind. " +
      'Results written before rules had kinds say "kind not recorded".',
  },
  {
    id: "nothing-tried",
    term: "nothing tried",
    meaning: "The run was monitored and no rule fired: the program tried nothing the rules flag.",
    tone: "safe",
  },
  {
    id: "not-monitored",
    term: "not monitored",
    meaning:
      "Nothing is known about what the program tried: monitoring was unavailable for the run (the reason is shown), the run is a runc " +
      "baseline (gVisor's trace points exist only under runsc), or the result predates monitoring.",
    tone: "idle",
  },
  {
    id: "not-detected",
    term: "not detected",
    meaning: "A monitored attack that raised no alert: contained, but the rules did not see it try anything.",
    tone: "limit",
  },
];
