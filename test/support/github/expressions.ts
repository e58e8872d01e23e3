// ${{ … }} expressions as the Actions runner evaluates them (the subset the workflows use). Strict where a
// typo would otherwise pass silently: reading steps.<id>.outputs.<name> or needs.<job>… that does not exist
// throws; elsewhere (github.event, inputs, vars, secrets) a missing property is null, as on GitHub.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export class ExpressionError extends Error {}

type Node =
  | { k: "lit"; v: unknown }
  | { k: "ctx"; name: string }
  | { k: "prop"; obj: Node; key: Node; text: string }
  | { k: "call"; name: string; args: Node[] }
  | { k: "not"; e: Node }
  | { k: "bin"; op: string; l: Node; r: Node };

// A token is one of four groups, in this order: a quoted string, a number, a name, an operator.
const STRING_TOKEN = /('(?:[^']|'')*')/.source;
const NUMBER_TOKEN = /(-?(?:0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?))(?![\w-])/.source;
const NAME_TOKEN = /([A-Za-z_][A-Za-z0-9_-]*)/.source;
const OPERATOR_TOKEN = /(\|\||&&|==|!=|<=|>=|[<>!()[\].,*])/.source;
const TOKEN_RE = new RegExp(String.raw`\s*(?:${STRING_TOKEN}|${NUMBER_TOKEN}|${NAME_TOKEN}|${OPERATOR_TOKEN})`, "iy");

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN_RE.lastIndex = 0;
  while (TOKEN_RE.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN_RE.lastIndex))) break;
    const at = TOKEN_RE.lastIndex;
    const match = TOKEN_RE.exec(source);
    if (!match) throw new ExpressionError(`cannot read the expression ${JSON.stringify(source)} at ${at}`);
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4]!);
  }
  return tokens;
}

function parseExpression(source: string): Node {
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected))
      throw new ExpressionError(`expected ${expected ?? "more"} in ${JSON.stringify(source)}, got ${t ?? "the end"}`);
    return t;
  };
  const textOf = (n: Node): string => (n.k === "ctx" ? n.name : n.k === "prop" ? n.text : "(…)");
  const primary = (): Node => {
    const t = take();
    if (t === "(") {
      const e = or();
      take(")");
      return e;
    }
    if (t === "!") return { k: "not", e: primary() };
    if (t.startsWith("'")) return { k: "lit", v: t.slice(1, -1).replace(/''/g, "'") };
    if (/^-?\d|^-?0x/i.test(t)) return { k: "lit", v: Number(t) };
    if (t === "true" || t === "false") return { k: "lit", v: t === "true" };
    if (t === "null") return { k: "lit", v: null };
    if (!/^[A-Za-z_]/.test(t)) throw new ExpressionError(`unexpected ${t} in ${JSON.stringify(source)}`);
    let node: Node;
    if (peek() === "(") {
      take("(");
      const args: Node[] = [];
      while (peek() !== ")") {
        args.push(or());
        if (peek() === ",") take(",");
      }
      take(")");
      node = { k: "call", name: t.toLowerCase(), args };
    } else node = { k: "ctx", name: t };
    for (;;) {
      if (peek() === ".") {
        take(".");
        const key = take();
        if (key === "*") throw new ExpressionError(`object filters (.*) are not supported: ${source}`);
        node = { k: "prop", obj: node, key: { k: "lit", v: key }, text: `${textOf(node)}.${key}` };
      } else if (peek() === "[") {
        take("[");
        const key = or();
        take("]");
        node = { k: "prop", obj: node, key, text: `${textOf(node)}[…]` };
      } else return node;
    }
  };
  const comparison = (): Node => {
    let l = primary();
    while (["==", "!=", "<", "<=", ">", ">="].includes(peek() ?? "")) l = { k: "bin", op: take(), l, r: primary() };
    return l;
  };
  const and = (): Node => {
    let l = comparison();
    while (peek() === "&&") l = { k: "bin", op: take(), l, r: comparison() };
    return l;
  };
  const or = (): Node => {
    let l = and();
    while (peek() === "||") l = { k: "bin", op: take(), l, r: and() };
    return l;
  };
  const node = or();
  if (i !== tokens.length) throw new ExpressionError(`unexpected ${tokens[i]} in ${JSON.stringify(source)}`);
  return node;
}

const truthy = (v: unknown) => !(v === false || v === 0 || v === "" || v === null || v === undefined || Number.isNaN(v));
const toNumber = (v: unknown): number =>
  v === null || v === undefined
    ? 0
    : typeof v === "boolean"
      ? Number(v)
      : typeof v === "number"
        ? v
        : typeof v === "string"
          ? v.trim() === ""
            ? 0
            : Number(v)
          : NaN;

/** The runner's loose comparison: strings case-insensitively, mixed types as numbers. */
function compare(op: string, a: unknown, b: unknown): boolean {
  if (typeof a === "string" && typeof b === "string") {
    const [x, y] = [a.toUpperCase(), b.toUpperCase()];
    return op === "==" ? x === y : op === "!=" ? x !== y : op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
  }
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null)
    return op === "==" ? a === b : op === "!=" ? a !== b : false;
  const [x, y] = [toNumber(a), toNumber(b)];
  return op === "==" ? x === y : op === "!=" ? x !== y : op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
}

/** How a value becomes text in `with:`, `env:` and `${{ }}` inside strings. */
export function expressionString(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v, null, 2);
}

export interface StatusFunctions {
  success(): boolean;
  failure(): boolean;
  cancelled?(): boolean;
}

/** Contexts whose missing members are mistakes in the workflow, not absent data. */
const STRICT_ROOTS = new Set(["steps", "needs"]);

/** Marks an object whose missing members read as null even under a strict root (a third-party step's outputs). */
export const LENIENT = Symbol("lenient");

/**
 * Evaluates one expression. Strict where the runner is lenient: reading a context, property or output
 * that does not exist throws, so a workflow that reads an output nobody produced fails the test.
 */
export function evaluateExpression(
  source: string,
  context: Record<string, unknown>,
  status: StatusFunctions = { success: () => true, failure: () => false },
): unknown {
  const ast = parseExpression(source);
  const lookup = (obj: unknown, key: string, text: string): unknown => {
    const strict = STRICT_ROOTS.has(text.split(/[.[]/)[0]!.toLowerCase());
    if (obj === null || typeof obj !== "object") {
      if (!strict) return null;
      throw new ExpressionError(`${text}: cannot read ${key} of ${JSON.stringify(obj)} (in ${JSON.stringify(source)})`);
    }
    const record = obj as Record<string, unknown>;
    const found = key in record ? key : Object.keys(record).find((k) => k.toLowerCase() === key.toLowerCase());
    if (found === undefined) {
      if (!strict || (record as { [LENIENT]?: boolean })[LENIENT]) return null;
      throw new ExpressionError(`${text} does not exist (in ${JSON.stringify(source)})`);
    }
    return record[found];
  };
  const evaluate = (n: Node): unknown => {
    switch (n.k) {
      case "lit":
        return n.v;
      case "ctx":
        if (!(n.name in context) && !STRICT_ROOTS.has(n.name.toLowerCase()))
          throw new ExpressionError(`unknown context ${n.name} (in ${JSON.stringify(source)})`);
        return lookup(context, n.name, n.name);
      case "prop": {
        const key = evaluate(n.key);
        return lookup(evaluate(n.obj), String(key), n.text);
      }
      case "not":
        return !truthy(evaluate(n.e));
      case "bin": {
        if (n.op === "||") {
          const l = evaluate(n.l);
          return truthy(l) ? l : evaluate(n.r);
        }
        if (n.op === "&&") {
          const l = evaluate(n.l);
          return truthy(l) ? evaluate(n.r) : l;
        }
        return compare(n.op, evaluate(n.l), evaluate(n.r));
      }
      case "call": {
        const args = () => n.args.map(evaluate);
        switch (n.name) {
          case "always":
            return true;
          case "success":
            return status.success();
          case "failure":
            return status.failure();
          case "cancelled":
            return status.cancelled?.() ?? false;
          case "hashfiles": {
            // sha256 over each file's sha256, as the runner computes it; "" when no file matches.
            const root = String((context.github as Record<string, unknown> | undefined)?.workspace ?? ".");
            const files = args()
              .map((p) => path.join(root, expressionString(p)))
              .filter((f) => existsSync(f));
            if (files.length === 0) return "";
            const outer = createHash("sha256");
            for (const f of files) outer.update(createHash("sha256").update(readFileSync(f)).digest());
            return outer.digest("hex");
          }
          case "fromjson": {
            const [text] = args();
            try {
              return JSON.parse(expressionString(text));
            } catch {
              throw new ExpressionError(`fromJSON: not JSON: ${JSON.stringify(text)} (in ${JSON.stringify(source)})`);
            }
          }
          case "tojson":
            return JSON.stringify(args()[0], null, 2);
          case "format": {
            const [fmt, ...rest] = args();
            return expressionString(fmt).replace(/\{\{|\}\}|\{(\d+)\}/g, (m, index: string | undefined) =>
              m === "{{" ? "{" : m === "}}" ? "}" : expressionString(rest[Number(index)]),
            );
          }
          case "contains": {
            const [haystack, needle] = args();
            if (Array.isArray(haystack)) return haystack.some((h) => compare("==", h, needle));
            return expressionString(haystack).toLowerCase().includes(expressionString(needle).toLowerCase());
          }
          case "startswith":
            return expressionString(args()[0]).toLowerCase().startsWith(expressionString(args()[1]).toLowerCase());
          case "endswith":
            return expressionString(args()[0]).toLowerCase().endsWith(expressionString(args()[1]).toLowerCase());
          case "join": {
            const [list, sep] = args();
            return Array.isArray(list)
              ? list.map(expressionString).join(sep === undefined ? "," : expressionString(sep))
              : expressionString(list);
          }
          default:
            throw new ExpressionError(`function ${n.name}() is not supported by this harness (in ${JSON.stringify(source)})`);
        }
      }
    }
  };
  return evaluate(ast);
}

/**
 * A workflow value with ${{ }} in it: a value that is exactly one expression keeps its type (for
 * strategy.matrix, runs-on, …); otherwise every expression is turned into text in place.
 */
export function interpolate(value: unknown, context: Record<string, unknown>, status?: StatusFunctions): unknown {
  if (typeof value !== "string") return value;
  const whole = /^\s*\$\{\{([^]*?)\}\}\s*$/.exec(value);
  if (whole && !whole[1]!.includes("}}")) return evaluateExpression(whole[1]!, context, status);
  return value.replace(/\$\{\{([^]*?)\}\}/g, (_, expr: string) => expressionString(evaluateExpression(expr, context, status)));
}

/** An `if:` condition: `${{ }}` optional, and an implicit success() unless it calls a status function. */
export function evaluateCondition(condition: unknown, context: Record<string, unknown>, status: StatusFunctions): boolean {
  if (condition === undefined || condition === null) return status.success();
  if (typeof condition === "boolean") return condition && status.success();
  let text = String(condition).trim();
  const wrapped = /^\$\{\{([^]*)\}\}$/.exec(text);
  if (wrapped) text = wrapped[1]!.trim();
  if (!/\b(always|success|failure|cancelled)\s*\(/.test(text)) text = `success() && (${text})`;
  return truthy(evaluateExpression(text, context, status));
}

// ---------------------------------------------------------------------------------------------------
// Running a workflow's jobs: local actions for real, GitHub's own actions simulated
// ---------------------------------------------------------------------------------------------------
