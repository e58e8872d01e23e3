// Reads experiments/containment/matrix.json for the containment page, validated against
// schemas/containment-matrix.schema.json; an invalid file stops the build naming the field.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ContainmentMatrixDocument as ContainmentMatrix } from "../../../actions/lib/src/contracts/containment-matrix.js";
import { schemaProblems, validateContainmentMatrixDocument } from "../../../actions/lib/src/schemas.js";
import { experimentsDir } from "./paths";
import type { Tone } from "./vocabulary";

export type { ContainmentMatrix };

let loaded: Promise<{ matrix: ContainmentMatrix | undefined; file: string }> | undefined;

/** The matrix, read and validated once per build. */
export function loadContainmentMatrix(): Promise<{ matrix: ContainmentMatrix | undefined; file: string }> {
  loaded ??= readMatrix();
  return loaded;
}

export type MatrixVerdict = ContainmentMatrix["verdicts"][number];

/** The containment verdict on one run of an attack, when the matrix has one. */
export async function verdictForRun(attack: string, runId: string): Promise<MatrixVerdict | undefined> {
  return (await loadContainmentMatrix()).matrix?.verdicts.find((v) => v.attack === attack && v.runId === runId);
}

/** Whether an experiment is one of the containment suite's attacks. */
export async function isContainmentAttack(name: string, path: string): Promise<boolean> {
  const { matrix } = await loadContainmentMatrix();
  return !!matrix?.verdicts.some((v) => v.attack === name) || /(^|\/)experiments\/containment\//.test(path);
}

async function readMatrix(): Promise<{ matrix: ContainmentMatrix | undefined; file: string }> {
  const file = join(experimentsDir(), "containment", "matrix.json");
  let body: string;
  try {
    body = await readFile(file, "utf8");
  } catch {
    return { matrix: undefined, file };
  }
  const data: unknown = JSON.parse(body);
  if (!validateContainmentMatrixDocument(data)) {
    throw new Error(`${file} does not match schemas/containment-matrix.schema.json: ${schemaProblems(validateContainmentMatrixDocument)}`);
  }
  return { matrix: data, file };
}

/** What behaviour monitoring made of one attack's run, as the containment page says it. */
export interface DetectionView {
  word: "detected" | "not detected" | "not monitored" | "not recorded";
  tone: Tone;
  /** Rules raised, alerts of the attack's kind first, then most severe first, as "rule (severity, kind) ×count". */
  rules: string[];
  /** Why nothing is known, or what limits what is known. */
  note?: string;
}

const severityRank = { high: 0, medium: 1, low: 2 } as const;

/**
 * An attack's kinds: the categories its techniques report (techniques.jsonl, the containment suite's
 * categories, which are also the monitoring rules' kinds).
 */
export function attackKinds(matrix: ContainmentMatrix, attack: string): string[] {
  return [...new Set(matrix.techniques.filter((t) => t.attack === attack).map((t) => t.category))].sort();
}

/** Detected means an alert of the attack's own kind was raised: any alert is not enough. */
export function detectionView(verdict: MatrixVerdict, kinds: readonly string[]): DetectionView {
  const detection = verdict.detection;
  if (!detection) return { word: "not recorded", tone: "idle", rules: [], note: "this matrix predates behaviour monitoring" };
  if (detection.status !== "available") return { word: "not monitored", tone: "idle", rules: [], note: detection.reason };
  const ofKind = (alert: (typeof detection.alerts)[number]) => alert.kind !== undefined && kinds.includes(alert.kind);
  const rules = [...detection.alerts]
    .sort(
      (a, b) =>
        Number(ofKind(b)) - Number(ofKind(a)) || severityRank[a.severity] - severityRank[b.severity] || a.rule.localeCompare(b.rule),
    )
    .map((a) => `${a.rule} (${a.severity}${a.kind ? `, ${a.kind}` : ""}) ×${a.count}`);
  const limits =
    detection.collector === "broken"
      ? "monitoring broke during the run"
      : detection.collector === "overloaded"
        ? "some events were dropped"
        : undefined;
  const detected = detection.alerts.some(ofKind);
  const wanted = kinds.length > 0 ? kinds.join(" or ") : "unknown (the attack reported no techniques)";
  const mismatch =
    !detected && detection.alerts.length > 0
      ? detection.alerts.every((a) => a.kind === undefined)
        ? "its alerts predate rule kinds"
        : `alerts of other kinds only; its kind is ${wanted}`
      : undefined;
  const note = [mismatch, limits].filter(Boolean).join("; ") || undefined;
  return detected ? { word: "detected", tone: "safe", rules, note } : { word: "not detected", tone: "limit", rules, note };
}
