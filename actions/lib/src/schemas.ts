import type { ErrorObject, ValidateFunction } from "ajv";
// The JSON Schemas in schemas/ are the contracts; their validators are precompiled into contracts/ (by
// actions/scripts/contracts.mjs), typed so that validated data needs no cast, and bundled with the actions.
export {
  validateContainmentMatrixDocument,
  validateExperimentDocument,
  validateImageRecipeDocument,
  validateMonitoringRulesDocument,
  validatePolicyDocument,
  validateResultDocument,
  validateSeriesDocument,
} from "./contracts/validators.js";

export type SchemaError = ErrorObject;

/** "/resources/memory" → "resources.memory"; "" → "(top level)". */
export function fieldName(instancePath: string): string {
  if (instancePath === "") return "(top level)";
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join("");
}

/** One readable sentence per schema error, naming the field. */
export function describeSchemaError(error: ErrorObject): string {
  const field = fieldName(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "additionalProperties":
      return `unknown key "${String(params.additionalProperty)}" in ${field}`;
    case "required":
      return `${field} is missing the required key "${String(params.missingProperty)}"`;
    case "const":
      return `${field} must be ${JSON.stringify(params.allowedValue)}`;
    case "enum":
      return `${field} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    case "pattern": {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return (
        `${field} ${JSON.stringify(error.data)} is not in the expected ` +
        `form${description ? ` — ${description}` : ` (${error.message})`}`
      );
    }
    default: {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      const hint = description && ["type", "minimum", "maximum", "exclusiveMinimum"].includes(error.keyword) ? ` — ${description}` : "";
      return `${field} ${error.message ?? "is invalid"}${hint}`;
    }
  }
}

/** Every error of the last validation, each with its JSON pointer: "/status: status must be one of …". */
export function schemaProblems(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || "(root)"}: ${describeSchemaError(e)}`).join("; ");
}

/** Throws with every schema error when a document the pipeline itself produced is invalid. */
export function assertValid(validate: ValidateFunction, document: unknown, what: string): void {
  if (!validate(document)) {
    const lines = (validate.errors ?? []).map(describeSchemaError);
    throw new Error(`${what} does not match its schema:\n${lines.join("\n")}`);
  }
}

/**
 * Compiles a schema an experiment brings for its own params. A fresh instance per schema keeps a
 * researcher's $id from colliding with ours or with another experiment's. Ajv's compiler is loaded only
 * here: our own contracts are precompiled, and most runs bring no params schema.
 */
export async function compileParamsSchema(schema: unknown): Promise<ValidateFunction> {
  const [{ Ajv2020 }, { default: addFormats }] = await Promise.all([import("ajv/dist/2020.js"), import("ajv-formats")]);
  const own = new Ajv2020({ allErrors: true, strict: true, verbose: true });
  addFormats.default(own);
  return own.compile(schema as object);
}
