// House rules (#14) as tests: no source line over 140 characters, and no block of six or more lines
// repeated between source files (jscpd, a well-kept copy/paste detector, finds the blocks).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/repo.js";

const MAX_LINE = 140;
const SOURCE = /\.(ts|mts|mjs|js|astro)$/;
// Generated from schemas/ (actions/scripts/contracts.mjs): their lines are the schemas' descriptions.
const GENERATED = /^actions\/lib\/src\/contracts\//;

/** Source files under the rules: tracked or new, never ignored ones (bundles, node_modules). */
function sourceFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "actions", "site/src", "test"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  return listed
    .split("\n")
    .filter((file) => SOURCE.test(file) && !GENERATED.test(file) && !file.includes("/dist/") && !file.startsWith("test/fixtures/"))
    .filter((file) => !file.startsWith("actions/") || file.startsWith("actions/scripts/") || file.includes("/src/"));
}

describe("house rules", () => {
  it(`no source line is over ${MAX_LINE} characters`, () => {
    const long: string[] = [];
    for (const file of sourceFiles()) {
      readFileSync(path.join(repoRoot, file), "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (line.length > MAX_LINE) long.push(`${file}:${i + 1} (${line.length} characters)`);
        });
    }
    expect(long).toEqual([]);
  });

  it("no block of six or more lines repeats between source files of actions/ or site/src", () => {
    let report: { duplicates: { firstFile: { name: string }; secondFile: { name: string } }[] };
    // The command line, as a developer runs it (jscpd's ESM entry does not load under Node's ESM resolver).
    const output = mkdtempSync(path.join(tmpdir(), "crucible-jscpd-"));
    try {
      const args = ["--min-lines", "6", "--formats-exts", "typescript:ts,mts,astro;javascript:js,mjs", "--silent"];
      args.push("--ignore", "**/dist/**,**/node_modules/**,**/contracts/**", "--reporters", "json", "--output", output);
      execFileSync(path.join(repoRoot, "node_modules/.bin/jscpd"), [...args, "actions", "site/src"], { cwd: repoRoot });
      report = JSON.parse(readFileSync(path.join(output, "jscpd-report.json"), "utf8"));
    } finally {
      rmSync(output, { recursive: true, force: true });
    }
    const repeats = report.duplicates
      .map((clone) => [clone.firstFile.name, clone.secondFile.name].sort())
      .filter(([a, b]) => a !== b)
      .map(([a, b]) => `${a} <> ${b}`);
    expect([...new Set(repeats)]).toEqual([]);
  });
});
