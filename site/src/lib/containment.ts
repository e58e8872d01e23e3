// Reads experiments/containment/matrix.json for the containment page, validated against
// schemas/containment-matrix.schema.json; an invalid file stops the build naming the field.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ContainmentMatrixDocument as ContainmentMatrix } from "../../../actions/lib/src/contracts/containment-matrix.js";
import { schemaProblems, validateContainmentMatrixDocument } from "../../../actions/lib/src/schemas.js";
import { experimentsDir } from "./paths";

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
