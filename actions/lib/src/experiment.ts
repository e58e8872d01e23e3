import { createHash } from "node:crypto";
import { lstat, readFile, readdir, realpath } from "node:fs/promises";
import path from "node:path";
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { ExperimentInvalidError, type Issue, errorMessage } from "./errors.js";
import { imageSourceOf, imageStringProblem, type ImageSource } from "./image-source.js";
import { parseJsonWithin, positionOf, yamlNestingTooDeep } from "./limits.js";
import { compileParamsSchema, describeSchemaError, validateExperimentDocument, type SchemaError } from "./schemas.js";
import type { ExperimentDocument, Stage as ExperimentStage } from "./contracts/experiment.js";
import { parseDuration, parseMemory } from "./units.js";

/** An experiment as written in YAML, after schema validation (the type generated from schemas/experiment.schema.json). */
export type ExperimentSpec = ExperimentDocument;
/** A metric that says what the experiment found, and which direction is the better outcome. */
export type HeadlineMetric = NonNullable<ExperimentDocument["headline"]>[number];
export type ResourcesSpec = ExperimentDocument["resources"];
export type StageSpec = ExperimentStage;

export type Resources = { cpus: number; memoryBytes: number; timeoutSeconds: number; gpus: number };
export type Input = { relative: string; hostPath: string };

/** One sandboxed program of an experiment, with everything resolved: what the runner runs. */
export interface Stage {
  name: string;
  needs: string[];
  command: string[];
  inputs: Input[];
  /** The experiment's params with the stage's own on top. */
  params: Record<string, unknown>;
  resources: Resources;
  /** Files in /output that go to the artifact store and are mounted into dependents. */
  artifacts: string[];
}

/** What the pipeline needs of an experiment: validated, with units resolved and inputs checked. */
export interface Experiment {
  spec: ExperimentSpec;
  /** Absolute path of the YAML file. */
  file: string;
  /** Absolute path of the folder holding it; inputs are relative to it. */
  dir: string;
  contentHash: string;
  /** Where the image comes from: a recipe, the experiment's Dockerfile or a digest-pinned reference. */
  image: ImageSource;
  resources: Resources;
  /** Inputs as absolute host paths, keyed by their path relative to the experiment folder. */
  inputs: Input[];
  outputs: { files: string[]; maxBytes: number; maxFiles: number };
  /**
   * Staged experiments only: the stages in the order they run, every stage after the ones it needs.
   * Single-stage experiments have none and run `spec.command`.
   */
  stages?: Stage[];
}

export const EXPERIMENT_FILE_NAMES = ["experiment.yaml", "experiment.yml"];
export const MAX_EXPERIMENT_FILE_BYTES = 1024 * 1024;
/** Deepest nesting of collections in an experiment file (real ones need fewer than ten). */
export const MAX_EXPERIMENT_DEPTH = 64;
/** Limits of an experiment's params schema file. */
export const PARAMS_SCHEMA_LIMITS = { maxBytes: 1024 * 1024, maxDepth: 64 };

const SHELL_STRING_HINT =
  "command must be an argv array such as [python3, main.py]; a shell string is refused because nothing is run through a shell";

/**
 * Parses and validates an experiment file's text. Every problem is returned with the line and column of
 * the offending key or value, so editors and annotations point at the right place.
 */
export function parseExperiment(
  text: string,
  file: string,
): { spec?: ExperimentSpec; issues: Issue[]; doc: Document; lineCounter: LineCounter } {
  const lineCounter = new LineCounter();
  // Checked before composing: yaml composes recursively and would report a stack overflow instead.
  const tooDeep = yamlNestingTooDeep(text, MAX_EXPERIMENT_DEPTH);
  if (tooDeep) {
    const { line, column } = positionOf(text, tooDeep.offset);
    const message = `nesting deeper than ${MAX_EXPERIMENT_DEPTH} levels (put large structures in an input file instead)`;
    return { doc: parseDocument(""), lineCounter, issues: [{ file, line, column, message }] };
  }
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const at = (offset: number, message: string): Issue => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, message };
  };
  const syntax = [...doc.errors, ...doc.warnings.filter((w) => w.code === "DUPLICATE_KEY")];
  if (syntax.length > 0) {
    return {
      doc,
      lineCounter,
      issues: syntax.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, message: `invalid YAML: ${e.message.split("\n")[0]}` };
      }),
    };
  }
  let data: unknown;
  try {
    // A few aliases are legitimate YAML; thousands are an expansion bomb.
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    return {
      doc,
      lineCounter,
      issues: [
        {
          file,
          line: 1,
          column: 1,
          message: `invalid YAML: ${errorMessage(error)} (alias expansion is limited to keep files from expanding without bound)`,
        },
      ],
    };
  }
  if (!validateExperimentDocument(data)) {
    const errors = imageErrors(dedupe(validateExperimentDocument.errors ?? []), data);
    return { doc, lineCounter, issues: errors.map((e) => at(offsetOf(doc, e), messageFor(e))) };
  }
  return { doc, lineCounter, spec: data, issues: [] };
}

/**
 * `image` is one of three forms (oneOf), so a wrong one fails every branch. A string gets one message
 * with the fix (a tag without a digest says how to pin it); a build object keeps only its own errors.
 */
function imageErrors(errors: SchemaError[], data: unknown): SchemaError[] {
  const image = (data as { image?: unknown } | null)?.image;
  const aboutImage = (e: SchemaError) => e.instancePath === "/image" || e.instancePath.startsWith("/image/");
  if (!errors.some(aboutImage)) return errors;
  const rest = errors.filter((e) => !aboutImage(e));
  const problem = typeof image === "string" ? imageStringProblem(image) : undefined;
  if (problem) return [...rest, { instancePath: "/image", keyword: "image", params: {}, schemaPath: "", message: problem } as SchemaError];
  const inBuild = errors.filter(
    (e) => e.instancePath.startsWith("/image/") || (e.instancePath === "/image" && e.keyword === "additionalProperties"),
  );
  const fallback = {
    instancePath: "/image",
    keyword: "image",
    params: {},
    schemaPath: "",
    message: "image must be a recipe name, {build: {dockerfile, context}} or a digest-pinned reference",
  } as SchemaError;
  return [...rest, ...(inBuild.length > 0 ? inBuild : [fallback])];
}

function messageFor(error: SchemaError): string {
  if (error.keyword === "image") return error.message ?? "invalid image";
  if (/^(\/stages\/[^/]+)?\/command$/.test(error.instancePath) && error.keyword === "type") return SHELL_STRING_HINT;
  if (error.instancePath === "/command" && error.keyword === "false schema")
    return "a staged experiment gives each stage its own command: remove the top-level command";
  return describeSchemaError(error);
}

// With allErrors, a oneOf/type failure can repeat per keyword; one message per place and keyword is enough.
// An if/then failure only says "must match then"; the error inside it says what is wrong.
function dedupe(errors: SchemaError[]): SchemaError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (e.keyword === "if") return false;
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Source offset of the node a schema error is about: the unknown key itself, or the offending value. */
function offsetOf(doc: Document, error: SchemaError): number {
  const segments = error.instancePath === "" ? [] : error.instancePath.slice(1).split("/").map(unescapePointer);
  const keyPath = segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const target = nodeAt(doc, keyPath);
  if (error.keyword === "additionalProperties" && isMap(target)) {
    const name = (error.params as { additionalProperty: string }).additionalProperty;
    const pair = target.items.find((p) => isScalar(p.key) && p.key.value === name);
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  if (target?.range) return target.range[0];
  // The value is empty (e.g. `resources:` with nothing after it): point at its key.
  const parent = nodeAt(doc, keyPath.slice(0, -1));
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === keyPath.at(-1));
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return doc.contents?.range?.[0] ?? 0;
}

function nodeAt(doc: Document, keyPath: (string | number)[]): Node | undefined {
  if (keyPath.length === 0) return doc.contents ?? undefined;
  const node = doc.getIn(keyPath, true);
  return node && typeof node === "object" && "range" in node ? (node as Node) : undefined;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Source location of a key path, for checks made after the schema (inputs, name). */
function locate(doc: Document, lineCounter: LineCounter, keyPath: (string | number)[]): { line: number; column: number } {
  const node = nodeAt(doc, keyPath);
  const pos = lineCounter.linePos(node?.range?.[0] ?? doc.contents?.range?.[0] ?? 0);
  return { line: pos.line, column: pos.col };
}

/**
 * Loads an experiment file and checks everything the schema cannot: the name matches the folder, the
 * image recipe exists, and every input stays inside the experiment folder without symbolic links.
 * Throws ExperimentInvalidError listing every problem.
 */
export async function loadExperiment(file: string, options: { imagesDir: string }): Promise<Experiment> {
  const absolute = path.resolve(file);
  let bytes: Buffer;
  try {
    const size = (await lstat(absolute)).size;
    if (size > MAX_EXPERIMENT_FILE_BYTES) {
      throw new ExperimentInvalidError([
        {
          file,
          line: 1,
          column: 1,
          message: `the experiment file is ${size} bytes; the limit is ${MAX_EXPERIMENT_FILE_BYTES} (put data in input files instead)`,
        },
      ]);
    }
    bytes = await readFile(absolute);
  } catch (error) {
    if (error instanceof ExperimentInvalidError) throw error;
    throw new ExperimentInvalidError([{ file, line: 1, column: 1, message: `cannot read the experiment file: ${errorMessage(error)}` }]);
  }
  const { spec, issues, doc, lineCounter } = parseExperiment(bytes.toString("utf8"), file);
  if (!spec) throw new ExperimentInvalidError(issues);

  const problem = (keyPath: (string | number)[], message: string) => issues.push({ file, ...locate(doc, lineCounter, keyPath), message });
  const dir = path.dirname(absolute);
  if (spec.name !== path.basename(dir)) {
    problem(["name"], `name "${spec.name}" must equal the experiment's folder name "${path.basename(dir)}"`);
  }
  const image = imageSourceOf(spec.image);
  if (image.kind === "recipe" && !(await isFile(path.join(options.imagesDir, image.name, "recipe.json")))) {
    problem(
      ["image"],
      `image "${image.name}" has no recipe: expected ${path.join(options.imagesDir, image.name, "recipe.json")}; ` +
        `available: ${(await listImages(options.imagesDir)).join(", ") || "none"}`,
    );
  }
  if (image.kind === "build") {
    const dockerfileRefusal = await checkInput(dir, image.dockerfile);
    if (dockerfileRefusal) problem(["image", "build", "dockerfile"], `dockerfile "${image.dockerfile}" ${dockerfileRefusal}`);
    else if (!(await isFile(path.join(dir, image.dockerfile))))
      problem(["image", "build", "dockerfile"], `dockerfile "${image.dockerfile}" must be a file`);
    const contextRefusal = path.posix.normalize(image.context) === "." ? undefined : await checkInput(dir, image.context);
    if (contextRefusal) problem(["image", "build", "context"], `context "${image.context}" ${contextRefusal}`);
  }
  const checkInputs = async (list: string[], keyPath: (string | number)[]): Promise<Input[]> => {
    const checked: Input[] = [];
    for (const [index, relative] of list.entries()) {
      const refusal = await checkInput(dir, relative);
      if (refusal) problem([...keyPath, index], `input "${relative}" ${refusal}`);
      else checked.push({ relative: path.posix.normalize(relative), hostPath: path.join(dir, relative) });
    }
    return checked;
  };
  const inputs = await checkInputs(spec.inputs ?? [], ["inputs"]);
  const resources = resolveResources(spec.resources);
  const stages = spec.stages ? await resolveStages(spec, inputs, checkInputs, problem) : undefined;
  await checkParams(dir, spec, stages, problem);
  if (issues.length > 0) throw new ExperimentInvalidError(issues);

  return {
    spec,
    file: absolute,
    dir,
    contentHash: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    image,
    resources,
    inputs,
    outputs: {
      files: spec.outputs?.files ?? [],
      maxBytes: parseMemory(spec.outputs?.maxBytes ?? "64Mi"),
      maxFiles: spec.outputs?.maxFiles ?? 1000,
    },
    ...(stages ? { stages } : {}),
  };
}

type Problem = (keyPath: (string | number)[], message: string) => void;

function resolveResources(r: ResourcesSpec): Resources {
  return { cpus: r.cpus, memoryBytes: parseMemory(r.memory), timeoutSeconds: parseDuration(r.timeout), gpus: r.gpus ?? 0 };
}

/**
 * Resolves every stage (inputs, params and resources merged over the experiment's) and orders them so
 * each runs after the stages it needs; an unknown need or a cycle is reported at the `needs` that causes it.
 */
async function resolveStages(
  spec: ExperimentSpec,
  inputs: Input[],
  checkInputs: (list: string[], keyPath: (string | number)[]) => Promise<Input[]>,
  problem: Problem,
): Promise<Stage[]> {
  const declared = Object.entries(spec.stages ?? {});
  const byName = new Map<string, Stage>();
  for (const [name, stage] of declared) {
    const own = await checkInputs(stage.inputs ?? [], ["stages", name, "inputs"]);
    const needs = stage.needs ?? [];
    for (const [index, need] of needs.entries()) {
      if (need === name) problem(["stages", name, "needs", index], `stage "${name}" cannot need itself`);
      else if (!spec.stages?.[need])
        problem(
          ["stages", name, "needs", index],
          `stage "${name}" needs "${need}", which is not a stage of this experiment (stages: ${declared.map(([n]) => n).join(", ")})`,
        );
    }
    byName.set(name, {
      name,
      needs,
      command: stage.command,
      inputs: [...inputs, ...own.filter((i) => !inputs.some((e) => e.relative === i.relative))],
      params: { ...(spec.params ?? {}), ...(stage.params ?? {}) },
      resources: resolveResources({ ...spec.resources, ...stage.resources }),
      artifacts: stage.artifacts ?? [],
    });
  }
  // Kahn's algorithm in declaration order, so the run order is the order a reader sees in the file.
  const ordered: Stage[] = [];
  const placed = new Set<string>();
  while (ordered.length < byName.size) {
    const next = [...byName.values()].find(
      (s) => !placed.has(s.name) && s.needs.every((n) => placed.has(n) || !byName.has(n) || n === s.name),
    );
    if (!next) {
      const stuck = [...byName.values()].filter((s) => !placed.has(s.name));
      problem(
        ["stages", stuck[0]!.name, "needs"],
        `the needs of stages ${stuck.map((s) => `"${s.name}"`).join(", ")} form a cycle, so none of them could start`,
      );
      return [...ordered, ...stuck];
    }
    ordered.push(next);
    placed.add(next.name);
  }
  return ordered;
}

/**
 * Checks params against the experiment's own params schema, for every stage's merged params, and points
 * at the value in the file: the stage's own params when the key is there, the experiment's otherwise.
 */
async function checkParams(dir: string, spec: ExperimentSpec, stages: Stage[] | undefined, problem: Problem): Promise<void> {
  if (!spec.paramsSchema) return;
  const refusal = await checkInput(dir, spec.paramsSchema);
  if (refusal) return problem(["paramsSchema"], `params schema "${spec.paramsSchema}" ${refusal}`);
  let validate;
  try {
    validate = await compileParamsSchema(parseJsonWithin(await readFile(path.join(dir, spec.paramsSchema), "utf8"), PARAMS_SCHEMA_LIMITS));
  } catch (error) {
    return problem(["paramsSchema"], `params schema "${spec.paramsSchema}" cannot be used: ${errorMessage(error)}`);
  }
  const targets = stages
    ? stages.map((s) => ({ stage: s.name as string | undefined, params: s.params }))
    : [{ stage: undefined, params: spec.params ?? {} }];
  const reported = new Set<string>();
  for (const { stage, params } of targets) {
    if (validate(params)) continue;
    for (const error of validate.errors ?? []) {
      const segments = error.instancePath === "" ? [] : error.instancePath.slice(1).split("/").map(unescapePointer);
      const inStage = stage !== undefined && segments[0] !== undefined && Object.hasOwn(spec.stages?.[stage]?.params ?? {}, segments[0]);
      const keyPath = inStage ? ["stages", stage!, "params", ...segments] : ["params", ...segments];
      const field = `/${keyPath.map((k) => String(k).replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`;
      const message = `${describeSchemaError({ ...error, instancePath: field })} (checked against ${spec.paramsSchema})`;
      // The experiment's own params reach every stage: report a bad one once, not once per stage.
      const key = `${field}|${error.keyword}|${error.message}`;
      if (reported.has(key)) continue;
      reported.add(key);
      problem(keyPath, message);
    }
  }
}

/** Why an input path is refused, or undefined when it is a plain file or folder inside the experiment folder. */
async function checkInput(dir: string, relative: string): Promise<string | undefined> {
  if (path.isAbsolute(relative) || relative.startsWith("\\")) return "must be relative to the experiment folder";
  const parts = relative.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return "must not contain `..`: inputs stay inside the experiment folder";
  if (parts.length === 0) return "must name a file or folder inside the experiment folder";
  if (parts[0] === "results") return "must not be the results folder";
  let current = dir;
  for (const part of parts) {
    current = path.join(current, part);
    let stats;
    try {
      stats = await lstat(current);
    } catch {
      return `does not exist (looked for ${current})`;
    }
    if (stats.isSymbolicLink()) return `is or goes through a symbolic link (${current}); copy the file into the experiment folder instead`;
  }
  const stats = await lstat(current);
  if (!stats.isFile() && !stats.isDirectory()) return "must be a regular file or a folder";
  const [realDir, realInput] = await Promise.all([realpath(dir), realpath(current)]);
  if (realInput !== realDir && !realInput.startsWith(realDir + path.sep)) return "resolves outside the experiment folder";
  return undefined;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isFile();
  } catch {
    return false;
  }
}

async function listImages(imagesDir: string): Promise<string[]> {
  try {
    return (await readdir(imagesDir)).sort();
  } catch {
    return [];
  }
}

/**
 * Experiment files under the given paths (files are taken as they are; folders are searched, skipping
 * results/ and node_modules/), sorted.
 */
export async function findExperimentFiles(paths: string[]): Promise<string[]> {
  const found = new Set<string>();
  const walk = async (p: string): Promise<void> => {
    const stats = await lstat(p);
    if (stats.isFile()) {
      found.add(p);
      return;
    }
    if (!stats.isDirectory()) return;
    for (const entry of await readdir(p, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== "results" && entry.name !== "node_modules" && !entry.name.startsWith(".")) {
        await walk(path.join(p, entry.name));
      } else if (entry.isFile() && EXPERIMENT_FILE_NAMES.includes(entry.name)) {
        found.add(path.join(p, entry.name));
      }
    }
  };
  for (const p of paths) await walk(p);
  return [...found].sort();
}
