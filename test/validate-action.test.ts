// The validate action, bundled and run as the runner runs it, on a real git repository.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { beforeAll, describe, expect, it } from "vitest";
import { runAction } from "./support/action.js";
import { elementCounts, renderGfm } from "./support/markdown.js";
import { experimentYaml, repoRoot } from "./support/repo.js";

const entry = path.join(repoRoot, "actions/validate/dist/index.js");
// The package is CommonJS with a default export its types describe as a module namespace.
const examples: WebhookDefinition[] = createRequire(import.meta.url)("@octokit/webhooks-examples");
let workspace: string;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;
let event: Json;

function git(...args: string[]): string {
  return execFileSync("git", args, {
    cwd: workspace,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  }).trim();
}

async function addExperiment(name: string, yaml: string): Promise<void> {
  await mkdir(path.join(workspace, "experiments", name), { recursive: true });
  await writeFile(path.join(workspace, "experiments", name, "experiment.yaml"), yaml);
  await writeFile(path.join(workspace, "experiments", name, "main.py"), "print('hi')\n");
}

beforeAll(async () => {
  // Base branch: one valid experiment and one already-broken one the PR does not touch.
  workspace = await mkdtemp(path.join(os.tmpdir(), "crucible-workspace-"));
  git("init", "-q", "-b", "main");
  await addExperiment("existing", experimentYaml("existing"));
  await addExperiment("legacy-broken", experimentYaml("legacy-broken", { extra: "oops: true" }));
  git("add", "-A");
  git("commit", "-qm", "base");
  const base = git("rev-parse", "HEAD");
  // The pull request adds one valid and one invalid experiment.
  await addExperiment("added-ok", experimentYaml("added-ok"));
  await addExperiment("added-bad", experimentYaml("added-bad", { resources: "  cpus: 1\n  memory: lots\n  timeout: 60s" }));
  git("add", "-A");
  git("commit", "-qm", "head");
  const head = git("rev-parse", "HEAD");

  const opened = examples.find((e) => e.name === "pull_request")!.examples.find((e) => "action" in e && e.action === "opened") as Json;
  event = structuredClone(opened);
  event.pull_request.base.sha = base;
  event.pull_request.head.sha = head;
});

describe("actions/validate", () => {
  it("checks only what the pull request touches and annotates each problem at its line and column", async () => {
    const run = await runAction(entry, { inputs: { paths: "" }, env: { GITHUB_WORKSPACE: workspace }, event });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "::error title=Invalid experiment,file=experiments/added-bad/experiment.yaml,line=9,col=11::" +
        'resources.memory "lots" is not in the expected form',
    );
    expect(run.stdout).not.toContain("legacy-broken");
    expect(run.stdout).toContain("::error::1 of 2 experiment file(s) are invalid");
    const checked = JSON.parse(run.outputs.experiments!);
    expect(checked.map((c: { name: string; valid: boolean }) => [c.name, c.valid])).toEqual([
      ["added-bad", false],
      ["added-ok", true],
    ]);
    expect(run.outputs.valid).toBe("false");
    expect(run.summary).toContain("<td>added-ok</td>");
    expect(run.summary).toContain("1 CPU, 256Mi, 0 GPU");
  });

  it("checks everything under experiments/ outside a pull request", async () => {
    const run = await runAction(entry, { inputs: { paths: "" }, env: { GITHUB_WORKSPACE: workspace } });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs.experiments!)).toHaveLength(4);
    expect(run.stdout).toContain("file=experiments/legacy-broken/experiment.yaml,line=11,col=1::unknown key");
  });

  it("passes on explicit valid paths", async () => {
    const run = await runAction(entry, {
      inputs: { paths: "experiments/existing\nexperiments/added-ok" },
      env: { GITHUB_WORKSPACE: workspace },
    });
    expect(run.code).toBe(0);
    expect(run.outputs.valid).toBe("true");
  });

  it("quotes the pull request's text in its summary without letting it make an element", async () => {
    const yaml = [
      "apiVersion: crucible/v1",
      'name: "[PWN](https://evil.example) <img src=x data-pwn>"',
      "description: d",
      'image: "</td></tr></table><h1 data-pwn>PWN</h1>"',
      "command: [python3, main.py]",
      "resources: { cpus: 1, memory: 256Mi, timeout: 60s }",
      '"# PWN heading\\n\\n![PWN](https://evil.example/i.png) @octocat": 1',
      "",
    ].join("\n");
    // Outside experiments/, so the other tests' counts stay.
    await mkdir(path.join(workspace, "elsewhere", "hostile-yaml"), { recursive: true });
    await writeFile(path.join(workspace, "elsewhere", "hostile-yaml", "experiment.yaml"), yaml);
    const run = await runAction(entry, { inputs: { paths: "elsewhere/hostile-yaml" }, env: { GITHUB_WORKSPACE: workspace } });
    expect(run.code).toBe(1);
    expect(run.summary).toContain("PWN");
    const counts = elementCounts(renderGfm(run.summary));
    // Every element comes from a tag the action wrote: the pull request's text holds no "<" of its own.
    const literal = (tag: string) => run.summary.match(new RegExp(`<${tag}[\\s>]`, "gi"))?.length ?? 0;
    for (const [tag, count] of Object.entries(counts)) expect(count, tag).toBe(literal(tag));
    expect(Object.keys(counts).sort()).toEqual(["h2", "li", "table", "td", "th", "tr", "ul"]);
  });

  it("falls back to every experiment when the base commit is not fetched", async () => {
    const shallow = structuredClone(event);
    shallow.pull_request.base.sha = "0".repeat(40);
    const run = await runAction(entry, { inputs: { paths: "" }, env: { GITHUB_WORKSPACE: workspace }, event: shallow });
    expect(run.stdout).toMatch(/::warning::cannot list the pull request's changes/);
    expect(JSON.parse(run.outputs.experiments!)).toHaveLength(4);
  });
});

describe("bundles", () => {
  it("committed dist/ matches a fresh build of the sources", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "crucible-dist-"));
    execFileSync(path.join(repoRoot, "node_modules/.bin/node"), [path.join(repoRoot, "actions/scripts/build.mjs"), "--out-root", out]);
    const { bundles, bundleFiles } = await import("../actions/scripts/build.mjs");
    for (const file of bundles.filter((b) => b.committed).flatMap(bundleFiles)) {
      const fresh = await readFile(path.join(out, file), "utf8");
      const committed = await readFile(path.join(repoRoot, file), "utf8");
      expect(committed === fresh, `${file} is stale: run npm run build and commit it`).toBe(true);
    }
  });
});
