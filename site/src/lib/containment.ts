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
  /** Rules raised, most severe first, as "rule (severity) ×count". */
  rules: string[];
  /** Why nothing is known, or what limits what is known. */
  note?: string;
}

const severityRank = { high: 0, medium: 1, low: 2 } as const;

export function detectionView(verdict: MatrixVerdict): DetectionView {
  const detection = verdict.detection;
  if (!detection) return { word: "not recorded", tone: "idle", rules: [], note: "this matrix predates behaviour monitoring" };
  if (detection.status !== "available") return { word: "not monitored", tone: "idle", rules: [], note: detection.reason };
  const rules = [...detection.alerts]
    .sort((a, b) => severityRank[a.severity] - severityRank[b.severity] || a.rule.localeCompare(b.rule))
    .map((a) => `${a.rule} (${a.severity}) ×${a.count}`);
  const note =
    detection.collector === "broken"
      ? "monitoring broke during the run"
      : detection.collector === "overloaded"
        ? "some events were dropped"
        : undefined;
  return rules.length > 0 ? { word: "detected", tone: "safe", rules, note } : { word: "not detected", tone: "limit", rules, note };
}
