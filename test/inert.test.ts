// One escaping model per place program text lands (schemas/README.md, "Where program text lands"), unit by
// unit; test/hostile-output.test.ts runs a hostile program through every adapter and place.
import { describe, expect, it } from "vitest";
import {
  DISPLAY_TEXT,
  escapeControls,
  escapeForLog,
  InputRefusedError,
  isUnsafeCodePoint,
  LineRelay,
  METRIC_NAME,
  parseExperiment,
  parseJsonWithin,
  portableNameProblem,
  SERIES_NAME,
  type RelayedLine,
} from "../actions/lib/src/index.js";
import { escapeMarkdown, safeUrl } from "../actions/lib/src/github/markdown.js";
import { csvField } from "../site/src/lib/csv.js";
import { HOSTILE_TEXTS } from "./support/hostile.js";
import { elementNames, renderGfm } from "./support/markdown.js";

describe("text shown anywhere (text.ts)", () => {
  it("escapes C0 and C1 controls, bidi controls, separators and invisible characters visibly, and keeps the rest", () => {
    expect(escapeControls("a\x1b[31mb\x07c\rd\ne\x00f\x7fg")).toBe("a\\x1b[31mb\\x07c\\x0dd\\x0ae\\x00f\\x7fg");
    expect(escapeControls("csi\u009b31m nel\u0085")).toBe("csi\\x9b31m nel\\x85");
    expect(escapeControls("\u202eabc\u202c \u2066x\u2069 \u200e\u200f\u061c")).toBe(
      "\\u{202e}abc\\u{202c} \\u{2066}x\\u{2069} \\u{200e}\\u{200f}\\u{61c}",
    );
    expect(escapeControls("a\u2028b\u2029c\u200bd\ufeffe\u{e0041}f")).toBe("a\\u{2028}b\\u{2029}c\\u{200b}d\\u{feff}e\\u{e0041}f");
    expect(escapeControls("lone \ud800 surrogate")).toBe("lone \\u{d800} surrogate");
    expect(escapeControls("tab\tnaïve 日本 👨‍👩‍👧 🙂")).toBe("tab\tnaïve 日本 👨‍👩‍👧 🙂");
  });

  it("says the same as the result schema's displayText about every code point", () => {
    const disagree: number[] = [];
    for (let code = 0; code <= 0x10ffff; code++) {
      const char = code >= 0xd800 && code <= 0xdfff ? String.fromCharCode(code) : String.fromCodePoint(code);
      if (DISPLAY_TEXT.test(char) === isUnsafeCodePoint(code)) disagree.push(code);
    }
    expect(disagree).toEqual([]);
  });

  it("escapes the bytes of a log line the same way as text", () => {
    const text = "x\x1b]52;c;Y3VybA==\x07 \u009b \u202e \u2028 ok";
    expect(escapeForLog(Buffer.from(text))).toBe(escapeControls(text));
  });
});

describe("job log and terminal: progress lines", () => {
  function relay(line: string): RelayedLine {
    const lines: RelayedLine[] = [];
    const r = new LineRelay((l) => lines.push(l));
    r.push("stdout", Buffer.from(`${line}\n`));
    return lines[0]!;
  }

  it("escapes control characters that JSON escapes decode to, in field names and values", () => {
    // As a program writes it: JSON escapes, which the relay's own escaping leaves alone and JSON.parse decodes.
    const line = relay(
      String.raw`{"progress": {"step": 1, "total": 4, "note": "\r::error::spoof\u001b]52;c;Y3VybA==\u0007", ` +
        String.raw`"\u001b[31mkey": "v\u202e", "\u2028": 1}}`,
    );
    expect(line.progressText).toMatch(/^progress 1\/4 \(25%\)/);
    expect(line.progressText).toContain("note=\\x0d::error::spoof\\x1b]52;c;Y3VybA==\\x07");
    expect(line.progressText).toContain("\\x1b[31mkey=v\\u{202e}");
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(line.progressText).not.toMatch(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u202e]/);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(Object.values(line.progress!).join("")).not.toMatch(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
  });

  it("keeps only numbers and text, at most 8 fields, and no __proto__", () => {
    const fields = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, i]));
    const others = JSON.stringify(fields).slice(1);
    const line = relay(`{"progress": {"step": 2, "total": 4, "__proto__": {"x": 1}, "o": {"a": 1}, "l": [1], ${others}}`);
    expect(Object.keys(line.progress!)).toEqual(["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "step", "total"]);
    expect(Object.getPrototypeOf(line.progress)).toBe(Object.prototype);
  });

  it("relays a deeply nested progress line as an ordinary line instead of failing on it", () => {
    const deep = `{"progress": {"step": 1, "total": 2, "x": ${"[".repeat(30_000)}${"]".repeat(30_000)}}}`;
    const line = relay(deep);
    expect(line.progress).toBeUndefined();
    expect(line.text.length).toBeGreaterThan(60_000);
  });
});

describe("step summary and pull-request comment: escapeMarkdown", () => {
  // The two shapes values are put in: a cell of an HTML table (the summary) and of a GFM table (the comment).
  const inHtmlTable = (value: string) => `<h3>T</h3>\n<table><tr><th align="left">k</th><td>${value}</td></tr></table>\n`;
  const inGfmTable = (value: string) => `### T\n\n| a | b |\n| --- | --- |\n| ${value}<br><sub>${value}</sub> | ${value} |\n`;

  it.each(HOSTILE_TEXTS)("creates no element and keeps the table whole: %j", (text) => {
    const escaped = escapeMarkdown(text);
    expect(escaped).not.toMatch(/[\n\r]/);
    expect(elementNames(renderGfm(inHtmlTable(escaped)))).toEqual(elementNames(renderGfm(inHtmlTable("x"))));
    expect(elementNames(renderGfm(inGfmTable(escaped)))).toEqual(elementNames(renderGfm(inGfmTable("x"))));
  });

  it("shows the text itself, with line breaks as spaces and controls as visible escapes", () => {
    const document = renderGfm(inHtmlTable(escapeMarkdown("a|b\n<c> `d` \x1b[31m")));
    expect(document.querySelector("td")!.textContent).toBe("a|b <c> `d` \\x1b[31m");
  });

  it("leaves GitHub's filters no mention, issue reference or emoji to make", () => {
    const text = renderGfm(inHtmlTable(escapeMarkdown("@octocat #12 :rocket: a@b.example"))).querySelector("td")!.textContent!;
    expect(text).not.toMatch(/@[A-Za-z0-9]|#[0-9]|:[a-z_]+:/);
    expect(text.replaceAll("\u200b", "")).toBe("@octocat #12 :rocket: a@b.example");
  });

  it("keeps URLs usable in href attributes (safeUrl) and refuses other schemes", () => {
    expect(safeUrl("https://github.com/o/r/actions/runs/1?x=1#frag")).toBe("https://github.com/o/r/actions/runs/1?x=1#frag");
    expect(safeUrl('https://ok.example/" onmouseover="x')).toBe("https://ok.example/%22%20onmouseover=%22x");
    expect(safeUrl("javascript:alert(1)")).toBeNull();
  });
});

describe("git tree: portable names", () => {
  it.each(["metrics.json", "model_v2.pt", "run-1.log", "_private", "A.B-c_d", "x".repeat(128)])("collects %j", (name) => {
    expect(portableNameProblem(name)).toBeUndefined();
  });

  it.each([
    ...[".hidden", "-rf", "..", "name.", "a b", "a\n::error::x", "esc\x1b[31m", "cr\rx", "rtl\u202etxt.exe", "ünï", "a:b", "a*b"],
    ...["x".repeat(129), "CON", "nul.txt", "Com1.log", "lpt9"],
  ])("refuses %j", (name) => {
    expect(portableNameProblem(name)).toBeTruthy();
  });

  it("metric and series names are letters first, then letters, digits, '.', '_' or '-'", () => {
    for (const ok of ["accuracy", "probe_auroc.layer-3", "a".repeat(128)]) expect(METRIC_NAME.test(ok), ok).toBe(true);
    for (const bad of ["__proto__", "constructor ", "1st", "</script><script>alert(2)</script>", "a\nb", "a|b", "a".repeat(129), ""]) {
      expect(METRIC_NAME.test(bad), bad).toBe(false);
    }
    expect(SERIES_NAME.test("roc")).toBe(true);
    expect(SERIES_NAME.test("a".repeat(65))).toBe(false);
  });
});

describe("limits with a sentence: parseJsonWithin and experiment YAML", () => {
  const refusal = (text: string, limits = { maxBytes: 1024 * 1024, maxDepth: 16 }) => {
    try {
      parseJsonWithin(text, limits);
    } catch (error) {
      expect(error).toBeInstanceOf(InputRefusedError);
      return (error as Error).message;
    }
    return "accepted";
  };

  it("parses what JSON.parse parses when it is within the limits", () => {
    const text = '{"a": [1, -2.5e3, "x\\u001b\\"y", true, false, null, {}], "b": {"c": []}}';
    expect(parseJsonWithin(text, { maxBytes: 1000, maxDepth: 3 })).toEqual(JSON.parse(text));
  });

  it("says where nesting goes deeper than the limit, even 100,000 levels deep", () => {
    expect(refusal(`{\n  "a": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`)).toBe("nesting deeper than 16 levels at line 2, column 23");
  });

  it("refuses duplicate keys, also when spelled differently, and says where", () => {
    expect(refusal('{"a": 1,\n "b": 2,\n "\\u0061": 3}')).toBe('duplicate key "a" at line 3, column 2');
    expect(refusal('{"x": {"k": 1, "k": 2}}')).toBe('duplicate key "k" at line 1, column 16');
  });

  it("refuses what is not JSON with a position, and what is too large with its size", () => {
    expect(refusal('{"a": NaN}')).toBe('invalid JSON: expected a value, found "N" at line 1, column 7');
    expect(refusal('{"a": 1,}')).toBe('invalid JSON: expected a key in double quotes, found "}" at line 1, column 9');
    expect(refusal('{"a": "\x1b"}')).toBe("invalid JSON: a control character inside a string (JSON needs it escaped) at line 1, column 8");
    expect(refusal('{"a": 1} x')).toBe("invalid JSON: unexpected text after the document at line 1, column 10");
    expect(refusal("[1, 2")).toBe("invalid JSON: unexpected end of the document at line 1, column 6");
    expect(refusal("[1]", { maxBytes: 2, maxDepth: 4 })).toBe("3 bytes, more than the limit of 2");
  });

  it("an experiment nested 20,000 levels deep (flow) or 1,000 (block) gets one sentence at the line and column", () => {
    const flow = `apiVersion: crucible/v1\nname: deep\nparams:\n  x: ${"[".repeat(20_000)}${"]".repeat(20_000)}\n`;
    const { issues } = parseExperiment(flow, "deep.yaml");
    const message = "nesting deeper than 64 levels (put large structures in an input file instead)";
    expect(issues).toEqual([{ file: "deep.yaml", line: 4, column: 68, message }]);
    const block = `params:\n${Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i + 1)}k:`).join("\n")} 1\n`;
    expect(parseExperiment(block, "deep.yaml").issues).toEqual([expect.objectContaining({ line: 65, column: 65, message })]);
  });
});

describe("CSV (the site's downloads)", () => {
  it("quotes separators and line breaks and defuses formulas", () => {
    expect(csvField('a,"b"\nc')).toBe('"a,""b""\nc"');
    expect(csvField('=HYPERLINK("https://evil.example")')).toBe('"\'=HYPERLINK(""https://evil.example"")"');
    expect(csvField("+1")).toBe("'+1");
    expect(csvField(-1)).toBe("-1");
  });
});

describe("experiment files name only portable outputs and artifacts", () => {
  it("refuses outputs.files and stage artifacts that could never be collected, at their line", () => {
    const yaml = [
      "apiVersion: crucible/v1",
      "name: names",
      "description: d",
      "image: base",
      "resources: { cpus: 1, memory: 256Mi, timeout: 60s }",
      "outputs: { files: [ok.json, .hidden, 'a b.txt'] }",
      "stages:",
      "  one: { command: [python3, x.py], artifacts: [model.pt, -rf, dir/ok.bin] }",
      "",
    ].join("\n");
    const messages = parseExperiment(yaml, "names.yaml").issues.map((i) => `${i.line}:${i.column} ${i.message}`);
    expect(messages.sort()).toEqual([
      expect.stringMatching(/^6:29 outputs\.files\[1\] "\.hidden" is not in the expected form — A path of portable names/),
      expect.stringMatching(/^6:38 outputs\.files\[2\] "a b\.txt" is not in the expected form/),
      expect.stringMatching(/^8:58 stages\.one\.artifacts\[1\] "-rf" is not in the expected form/),
    ]);
  });
});
