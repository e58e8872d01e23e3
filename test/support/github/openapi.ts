// GitHub's REST contract, from its own OpenAPI description (@octokit/openapi): resolves a request to
// its operation, checks requests and responses against the described schemas, and builds the smallest
// response body the description allows, which the fake then fills with the values that matter.
import { createRequire } from "node:module";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
export type Json = Record<string, any>;

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: Json;
  "x-multi-segment"?: boolean;
}

interface Route {
  template: string;
  pattern: RegExp;
  names: string[];
  literalLength: number;
}

export interface MatchedOperation {
  operationId: string;
  template: string;
  method: string;
  path: Record<string, string>;
  query: Record<string, unknown>;
}

const SPEC_ID = "github-openapi";

export class OpenApiContract {
  private readonly spec: Json;
  private readonly routes: Route[];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(spec: Json) {
    this.spec = spec;
    this.ajv = new Ajv({ strict: false, allErrors: true, logger: false, verbose: true });
    addFormats.default(this.ajv);
    // Components are registered under an id; inline schemas get their "#/components/…" refs rewritten to it.
    this.ajv.addSchema({ $id: SPEC_ID, components: nullableWithoutType(spec.components) });
    this.routes = Object.entries(spec.paths as Json).map(([template, item]) => {
      const multiSegment = new Set<string>();
      for (const op of Object.values(item as Json)) {
        for (const p of this.parameters((op as Json).parameters)) if (p["x-multi-segment"]) multiSegment.add(p.name);
      }
      const names: string[] = [];
      const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_, name: string) => {
        names.push(name);
        return multiSegment.has(name) ? "(.+)" : "([^/]+)";
      });
      return { template, pattern: new RegExp(`^${source}$`), names, literalLength: template.replace(/\{[^}]+\}/g, "").length };
    });
  }

  /** The operation a request addresses, and everything about the request that the description does not allow. */
  checkRequest(
    method: string,
    pathname: string,
    search: URLSearchParams,
    body: unknown,
  ): { operation?: MatchedOperation; violations: string[] } {
    const where = `${method} ${pathname}`;
    const candidates = this.routes
      .map((route) => ({ route, match: route.pattern.exec(pathname) }))
      .filter((c) => c.match && this.spec.paths[c.route.template][method.toLowerCase()])
      .sort((a, b) => b.route.literalLength - a.route.literalLength);
    const best = candidates[0];
    if (!best) return { violations: [`${where}: no such operation in GitHub's OpenAPI description`] };
    const { route, match } = best;
    const op = this.spec.paths[route.template][method.toLowerCase()] as Json;
    const violations: string[] = [];
    const operation: MatchedOperation = { operationId: op.operationId, template: route.template, method, path: {}, query: {} };
    const label = `${op.operationId} request`;

    const parameters = this.parameters(op.parameters);
    route.names.forEach((name, i) => (operation.path[name] = decodeURIComponent(match![i + 1]!)));
    for (const p of parameters.filter((p) => p.in === "path")) {
      violations.push(...this.validate(p.schema ?? {}, coerce(operation.path[p.name], p.schema), `${label} path parameter ${p.name}`));
    }
    for (const [name, raw] of search) {
      const p = parameters.find((q) => q.in === "query" && q.name === name);
      if (!p) {
        violations.push(`${label}: query parameter ${name} is not in the description`);
        continue;
      }
      operation.query[name] = coerce(raw, p.schema);
      violations.push(...this.validate(p.schema ?? {}, operation.query[name], `${label} query parameter ${name}`));
    }
    for (const p of parameters.filter((q) => q.in === "query" && q.required && !search.has(q.name)))
      violations.push(`${label}: required query parameter ${p.name} is missing`);

    const requestBody = op.requestBody ? this.deref(op.requestBody) : undefined;
    const schema = requestBody?.content?.["application/json"]?.schema as Json | undefined;
    if (body === undefined) {
      if (requestBody?.required) violations.push(`${label}: the body is required`);
    } else if (!schema) {
      violations.push(`${label}: the operation takes no JSON body`);
    } else {
      violations.push(...this.validate(schema, body, `${label} body`));
      // The description allows unknown keys; a key it does not name is still a client bug (a typo, a wrong API).
      const known = this.deref(schema).properties as Json | undefined;
      if (known && body && typeof body === "object") {
        for (const key of Object.keys(body)) if (!(key in known)) violations.push(`${label} body: unknown key ${key}`);
      }
    }
    return { operation, violations };
  }

  /** Everything about a response that the description does not allow for this operation. */
  checkResponse(operation: MatchedOperation, status: number, body: unknown): string[] {
    const label = `${operation.operationId} response ${status}`;
    const declared = this.response(operation, status);
    if (!declared) return [`${label}: status ${status} is not documented for this operation`];
    const schema = declared.content?.["application/json"]?.schema as Json | undefined;
    if (!schema) return body === undefined ? [] : [`${label}: the description has no body for this status`];
    return this.validate(schema, body, label);
  }

  /**
   * The smallest body the description allows for this operation and status (required fields only, each
   * with the plainest valid value), with `values` laid over it. Responses built this way carry every
   * field a client may rely on; checkResponse still checks the result.
   */
  responseBody(operation: MatchedOperation, status: number, values: Json = {}): Json {
    const schema = this.response(operation, status)?.content?.["application/json"]?.schema as Json | undefined;
    if (!schema) throw new Error(`${operation.operationId}: no JSON body is described for status ${status}`);
    return overlay(this.minimal(schema), values);
  }

  /** A minimal valid value of a named component schema, e.g. "pull-request", with values laid over it. */
  component(name: string, values: Json = {}): Json {
    return overlay(this.minimal({ $ref: `#/components/schemas/${name}` }), values);
  }

  private response(operation: MatchedOperation, status: number): Json | undefined {
    const op = this.spec.paths[operation.template][operation.method.toLowerCase()] as Json;
    const declared = op.responses[String(status)] ?? op.responses.default;
    return declared ? this.deref(declared) : undefined;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  private minimal(schemaIn: Json, depth = 0): any {
    const schema = this.deref(schemaIn);
    if (depth > 12) return null;
    if (schema.allOf) return (schema.allOf as Json[]).reduce((acc: Json, part) => overlay(acc, this.minimal(part, depth + 1) ?? {}), {});
    const options = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
    if (options) return this.minimal(options.find((o) => this.deref(o).type !== "null") ?? options[0]!, depth + 1);
    if (schema.nullable) return null;
    if (schema.enum) return schema.enum[0];
    const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
    switch (type) {
      case "object":
      case undefined: {
        if (!schema.properties && type === undefined) return null;
        const out: Json = {};
        for (const key of (schema.required ?? []) as string[]) out[key] = this.minimal(schema.properties?.[key] ?? {}, depth + 1);
        return out;
      }
      case "array":
        return [];
      case "integer":
      case "number":
        return schema.minimum ?? 0;
      case "boolean":
        return false;
      case "string":
        if (schema.format === "date-time") return "2026-01-01T00:00:00Z";
        if (schema.format === "uri") return "https://github.invalid/";
        if (schema.format === "email") return "nobody@github.invalid";
        return "";
      default:
        return null;
    }
  }

  private validate(schema: Json, value: unknown, label: string): string[] {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(
        nullableWithoutType(JSON.parse(key.replaceAll('"$ref":"#/components/', `"$ref":"${SPEC_ID}#/components/`))),
      );
      this.compiled.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `${label}: ${e.instancePath || "(top level)"} ${e.message ?? "is invalid"} ${JSON.stringify(e.params)} ` +
        `(got ${JSON.stringify(e.data)?.slice(0, 80)})`,
    );
  }

  private parameters(list: unknown): Parameter[] {
    return ((list as Json[] | undefined) ?? []).map((p) => this.deref(p) as Parameter);
  }

  /** Follows a local "#/components/…" $ref (parameters, request bodies, responses, schemas). */
  private deref(value: Json): Json {
    let current = value;
    while (typeof current?.$ref === "string") {
      current = (current.$ref as string)
        .slice(2)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
        .reduce((node: Json, key) => node[key], this.spec);
    }
    return current;
  }
}

/**
 * OpenAPI 3.0's `nullable: true` as ajv reads it: next to a $ref or allOf (no `type`, which ajv refuses)
 * written as anyOf [schema, null]; on an enum, with null among the values.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
function nullableWithoutType(node: any): any {
  if (Array.isArray(node)) return node.map(nullableWithoutType);
  if (!isPlainObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = nullableWithoutType(value);
  // ajv applies `enum` after `nullable`: a nullable enum must list null itself.
  if (out.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (out.nullable === true && out.type === undefined) {
    const { nullable: _nullable, description, ...rest } = out;
    return { ...(description ? { description } : {}), anyOf: [rest, { type: "null" }] };
  }
  return out;
}

/** Plain objects are merged key by key; anything else in `values` replaces what is there. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
function overlay(base: any, values: any): any {
  if (!isPlainObject(base) || !isPlainObject(values)) return values === undefined ? base : values;
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(values)) out[key] = overlay(base[key], value);
  return out;
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Query and path values arrive as strings; the description types some as integers or booleans. */
function coerce(raw: string | undefined, schema: Json | undefined): unknown {
  if (raw === undefined) return raw;
  if ((schema?.type === "integer" || schema?.type === "number") && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (schema?.type === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
  return raw;
}

let contract: OpenApiContract | undefined;

/** Loaded once per test process: the description is about 10 MB of JSON. */
export function githubContract(): OpenApiContract {
  contract ??= new OpenApiContract(createRequire(import.meta.url)("@octokit/openapi/generated/api.github.com.json"));
  return contract;
}
