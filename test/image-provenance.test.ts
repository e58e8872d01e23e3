// Provenance of an image an experiment brought, in the results comment: digest, Dockerfile hash and base
// image, escaped like every other value a run recorded.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderEvaluationComment } from "../actions/lib/src/github/index.js";
import { validateResultDocument, type RunResult } from "../actions/lib/src/index.js";
import { evaluationPlan } from "./support/plan.js";
import { repoRoot } from "./support/repo.js";

async function helloResult(): Promise<RunResult> {
  const dir = path.join(repoRoot, "experiments/hello-sandbox/results");
  const [runId] = await readdir(dir);
  return JSON.parse(await readFile(path.join(dir, runId!, "result.json"), "utf8"));
}

const DIGEST = `sha256:${"1f".repeat(32)}`;
const DOCKERFILE = `sha256:${"2e".repeat(32)}`;

describe("the results comment for an experiment's own image", () => {
  it("lists digest, Dockerfile hash and base image of built and pulled images, and nothing for recipes", async () => {
    const hello = await helloResult();
    const built: RunResult = {
      ...hello,
      image: {
        name: "build:Dockerfile",
        ref: "crucible-experiment/hello-sandbox:0123456789abcdef",
        id: DIGEST,
        recipeHash: "",
        source: "build",
        digest: DIGEST,
        dockerfileHash: DOCKERFILE,
        baseImage: `crucible/base:8fe3b999cdd35445@sha256:${"3d".repeat(32)}`,
      },
    };
    const pulled: RunResult = {
      ...hello,
      experiment: { ...hello.experiment, name: "pinned" },
      image: {
        name: `127.0.0.1:5000/org/env@${DIGEST}`,
        ref: `127.0.0.1:5000/org/env@${DIGEST}`,
        id: `sha256:${"4c".repeat(32)}`,
        recipeHash: "",
        source: "registry",
        digest: DIGEST,
      },
    };
    expect(validateResultDocument(built)).toBe(true);
    expect(validateResultDocument(pulled)).toBe(true);
    const markdown = renderEvaluationComment({
      kind: "results",
      plan: evaluationPlan({ pullRequest: 3 }),
      rows: [{ result: built }, { result: pulled }, { result: hello }],
      dropped: [],
    });
    expect(markdown).toContain("**Images the experiments brought** (a rerun with `crucible run --image-digest` uses exactly these):");
    const listed = markdown.split("\n").filter((l) => l.startsWith("- "));
    expect(listed).toEqual([
      `- hello-sandbox (built from <code>Dockerfile</code>): digest <code>${DIGEST}</code> · Dockerfile <code>${DOCKERFILE}</code> ` +
        `· base <code>crucible/base&#58;&#8203;8fe3b999cdd35445&#64;&#8203;sha256&#58;&#8203;${"3d".repeat(32)}</code>`,
      `- pinned (pulled <code>127.0.0.1&#58;&#8203;5000/org/env&#64;&#8203;sha256&#58;&#8203;${"1f".repeat(32)}</code>): ` +
        `digest <code>${DIGEST}</code>`,
    ]);
    const recipeOnly = renderEvaluationComment({
      kind: "results",
      plan: evaluationPlan({ pullRequest: 3 }),
      rows: [{ result: hello }],
      dropped: [],
    });
    expect(recipeOnly).not.toContain("Images the experiments brought");
  });

  it("keeps hostile image text inert; only a digest of the checked shape is shown unescaped", async () => {
    const hello = await helloResult();
    const hostile: RunResult = {
      ...hello,
      image: {
        ...hello.image,
        name: "build:<img src=x onerror=alert(1)>`x`",
        source: "build",
        digest: DIGEST,
        baseImage: "[x](https://evil.example) @admin",
      },
    };
    const markdown = renderEvaluationComment({
      kind: "results",
      plan: evaluationPlan({ pullRequest: 3 }),
      rows: [{ result: hostile }],
      dropped: [],
    });
    expect(markdown).not.toMatch(/<img|\]\(|@admin|`x`/);
    const odd = renderEvaluationComment({
      kind: "results",
      plan: evaluationPlan({ pullRequest: 3 }),
      rows: [{ result: { ...hostile, image: { ...hostile.image, digest: "sha256:<b>x</b>" } } }],
      dropped: [],
    });
    expect(odd).not.toContain("<b>");
  });

  it("the result schema refuses a digest that is not sha256", () => {
    return helloResult().then((hello) => {
      expect(validateResultDocument({ ...hello, image: { ...hello.image, digest: "latest" } })).toBe(false);
    });
  });
});
