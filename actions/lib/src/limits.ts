import { Parser, type CST } from "yaml";
import { CrucibleError } from "./errors.js";
import { shownText } from "./text.js";

/**
 * Size and depth limits of the JSON and YAML Crucible reads. Parsers and the code after them recurse, so
 * a document nested thousands deep ends in "Maximum call stack size exceeded"; these checks run first,
 * without recursion, and say where the limit was crossed.
 */

/** A JSON or YAML input crossed a limit or is not well-formed; the message says where. */
export class InputRefusedError extends CrucibleError {
  override name = "InputRefusedError";
  constructor(
    message: string,
    readonly line = 1,
    readonly column = 1,
  ) {
    super(message);
  }
}

export interface JsonLimits {
  maxBytes: number;
  maxDepth: number;
}

/** 1-based line and column of an offset. */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING_ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/**
 * Parses JSON written by a program or a person, refusing what JSON.parse would take but readers disagree
 * on or cannot hold: more than maxBytes, nesting deeper than maxDepth, and duplicate keys (one reader
 * keeps the first value, another the last). Throws InputRefusedError with line and column.
 */
export function parseJsonWithin(text: string, limits: JsonLimits): unknown {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxBytes) throw new InputRefusedError(`${bytes} bytes, more than the limit of ${limits.maxBytes}`);
  const fail = (message: string, offset: number): never => {
    const { line, column } = positionOf(text, offset);
    throw new InputRefusedError(`${message} at line ${line}, column ${column}`, line, column);
  };
  const invalid = (message: string, offset: number): never => fail(`invalid JSON: ${message}`, offset);
  const stack: { close: "}" | "]"; keys?: Set<string> }[] = [];
  type Expecting = "value" | "value-or-close" | "key" | "key-or-close" | "colon" | "comma-or-close" | "end";
  let expecting = "value" as Expecting;
  let i = 0;

  const readString = (): string => {
    const start = i++;
    for (;;) {
      if (i >= text.length) invalid("unterminated string", start);
      const code = text.charCodeAt(i);
      if (code === 0x22) break;
      if (code < 0x20) invalid("a control character inside a string (JSON needs it escaped)", i);
      if (code === 0x5c) {
        STRING_ESCAPE.lastIndex = i;
        if (!STRING_ESCAPE.test(text)) invalid("an invalid escape in a string", i);
        i = STRING_ESCAPE.lastIndex;
      } else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const afterValue = () => {
    expecting = stack.length > 0 ? "comma-or-close" : "end";
  };

  for (;;) {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
    if (i >= text.length) {
      if (expecting === "end") break;
      invalid("unexpected end of the document", i);
    }
    const c = text[i]!;
    const top = stack.at(-1);
    switch (expecting) {
      case "end":
        invalid("unexpected text after the document", i);
        break;
      case "colon":
        if (c !== ":") invalid(`expected ":" after a key, found ${describe(c)}`, i);
        i++;
        expecting = "value";
        break;
      case "comma-or-close":
        if (c === ",") {
          i++;
          expecting = top!.close === "}" ? "key" : "value";
        } else if (c === top!.close) {
          stack.pop();
          i++;
          afterValue();
        } else invalid(`expected "," or "${top!.close}", found ${describe(c)}`, i);
        break;
      case "key":
      case "key-or-close":
        if (c === "}" && expecting === "key-or-close") {
          stack.pop();
          i++;
          afterValue();
        } else if (c === '"') {
          const at = i;
          const key = readString();
          if (top!.keys!.has(key)) fail(`duplicate key ${JSON.stringify(shownText(key, 64))}`, at);
          top!.keys!.add(key);
          expecting = "colon";
        } else invalid(`expected a key in double quotes, found ${describe(c)}`, i);
        break;
      case "value":
      case "value-or-close":
        if (c === "]" && expecting === "value-or-close") {
          stack.pop();
          i++;
          afterValue();
        } else if (c === "{" || c === "[") {
          if (stack.length >= limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth} levels`, i);
          stack.push(c === "{" ? { close: "}", keys: new Set() } : { close: "]" });
          i++;
          expecting = c === "{" ? "key-or-close" : "value-or-close";
        } else if (c === '"') {
          readString();
          afterValue();
        } else {
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          NUMBER.lastIndex = i;
          if (literal) i += literal.length;
          else if (NUMBER.test(text)) i = NUMBER.lastIndex;
          else invalid(`expected a value, found ${describe(c)}`, i);
          afterValue();
        }
        break;
    }
  }
  return JSON.parse(text);
}

function describe(char: string): string {
  return JSON.stringify(shownText(char, 4));
}

/**
 * Where a YAML document nests deeper than maxDepth collections (block or flow), from yaml's concrete
 * syntax tree, which it builds without recursion; undefined when it does not.
 */
export function yamlNestingTooDeep(text: string, maxDepth: number): { offset: number } | undefined {
  const pending: [CST.Token | undefined, number][] = [];
  for (const token of new Parser().parse(text)) pending.push([token, 0]);
  while (pending.length > 0) {
    const [token, depth] = pending.pop()!;
    if (!token) continue;
    if (token.type === "document") {
      pending.push([token.value, depth]);
      continue;
    }
    if (token.type !== "block-map" && token.type !== "block-seq" && token.type !== "flow-collection") continue;
    if (depth + 1 > maxDepth) return { offset: token.offset };
    for (const item of token.items) {
      const pair = item as { key?: CST.Token | null; value?: CST.Token };
      pending.push([pair.key ?? undefined, depth + 1], [pair.value, depth + 1]);
    }
  }
  return undefined;
}
