// Static checks of the workflows against the security rules of the GitOps loop and against the local
// actions they call: a `with:` key an action does not declare, a missing required input, or an output
// that no step or job produces fails here (actionlint does not look inside local actions' outputs).
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./support/repo.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;
const dir = path.join(repoRoot, ".github/workflows");
const files = (await readdir(dir)).filter((f) => f.endsWith(".yml"));
const workflows: [string, string, Json][] = [];
for (const file of files) {
  const text = await readFile(path.join(dir, file), "utf8");
  workflows.push([file, text, parse(text)]);
}
const actionCache = new Map<string, Json>();
async function action(uses: string): Promise<Json> {
  if (!actionCache.has(uses)) actionCache.set(uses, parse(await readFile(path.join(repoRoot, uses, "action.yml"), "utf8")));
  return actionCache.get(uses)!;
}

describe.each(workflows)("%s", (_file, text, workflow) => {
  it("has permissions: {} at the top and explicit permissions on every job", () => {
    expect(workflow.permissions).toEqual({});
    for (const [name, job] of Object.entries<Json>(workflow.jobs)) expect(job.permissions, name).toBeTypeOf("object");
  });

  it("pins every third-party action by a full commit SHA with a version comment", () => {
    for (const line of text.split("\n").filter((l) => /^\s*(- )?uses:/.test(l))) {
      const uses = line.replace(/^\s*(- )?uses:\s*/, "");
      if (uses.startsWith("./")) continue;
      expect(uses, line).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d/);
    }
  });

  it("interpolates no event data into run: scripts", () => {
    for (const job of Object.values<Json>(workflow.jobs)) {
      for (const step of job.steps ?? []) if (step.run) expect(step.run).not.toMatch(/\$\{\{/);
    }
  });

  it("passes local actions only inputs they declare, all required ones, and reads only outputs that exist", async () => {
    for (const [jobName, job] of Object.entries<Json>(workflow.jobs)) {
      const stepOutputs = new Map<string, Set<string>>();
      const thirdParty = new Set((job.steps ?? []).filter((s: Json) => s.id && s.uses && !s.uses.startsWith("./")).map((s: Json) => s.id));
      for (const step of job.steps ?? []) {
        if (!step.uses?.startsWith("./")) continue;
        const declared = await action(step.uses);
        const inputs = declared.inputs ?? {};
        for (const key of Object.keys(step.with ?? {}))
          expect(Object.keys(inputs), `${jobName}: ${step.uses} has no input ${key}`).toContain(key);
        for (const [key, input] of Object.entries<Json>(inputs))
          if (input.required && input.default === undefined)
            expect(Object.keys(step.with ?? {}), `${jobName}: ${step.uses} needs ${key}`).toContain(key);
        if (step.id) stepOutputs.set(step.id, new Set(Object.keys(declared.outputs ?? {})));
      }
      const jobText = JSON.stringify(job);
      for (const [, id, output] of jobText.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        if (thirdParty.has(id)) continue;
        expect(stepOutputs.get(id!), `${jobName}: steps.${id}.outputs.${output}`).toBeDefined();
        expect([...stepOutputs.get(id!)!], `${jobName}: steps.${id}.outputs.${output}`).toContain(output);
      }
      for (const [, need, output] of jobText.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        expect([job.needs].flat(), `${jobName} reads needs.${need} without needing it`).toContain(need);
        expect(Object.keys(workflow.jobs[need!].outputs ?? {}), `${jobName}: needs.${need}.outputs.${output}`).toContain(output);
      }
    }
  });
});

describe("evaluate.yml", () => {
  const workflow = workflows.find(([f]) => f === "evaluate.yml")![2];
  it("runs base-branch code behind the evaluation environment on sandboxing runners, each job with only its scopes", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request_target", "workflow_dispatch"]);
    expect(workflow.on.pull_request_target.types).toEqual(["opened", "synchronize", "reopened", "closed"]);
    // No paths filter: a pull request that changes no experiment still gets its crucible/evaluation status.
    expect(workflow.on.pull_request_target.paths).toBeUndefined();
    const { plan, announce, evaluate, record, report } = workflow.jobs;
    expect(plan.permissions).toEqual({ contents: "read", "pull-requests": "read" });
    expect(announce.permissions).toEqual({ "pull-requests": "write", statuses: "write" });
    expect(evaluate.environment).toBe("evaluation");
    expect(evaluate["runs-on"]).toBe("${{ matrix.runs-on }}");
    expect(evaluate.strategy["fail-fast"]).toBe(false);
    // The sandboxing host gets a read-only token: it can read the pull request and its run's reviews, nothing more.
    expect(evaluate.permissions).toEqual({ contents: "read", "pull-requests": "read", actions: "read" });
    expect(record.permissions).toEqual({ contents: "write", "pull-requests": "write", statuses: "write", actions: "read" });
    expect(record.if).toMatch(/^always\(\)/);
    expect(report.permissions).toEqual({ contents: "read", actions: "read" });
    expect(workflow.on.pull_request_target.branches).toEqual(["main"]);
    expect(plan.if).toBe("github.ref_name == github.event.repository.default_branch");
    expect(record.environment).toBe("crucible-app");
  });

  it("downloads artifacts only outside the workspace that holds the actions", () => {
    for (const job of Object.values<Json>(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (!String(step.uses ?? "").startsWith("actions/download-artifact@")) continue;
        // Result artifacts, and the build job's images (records for announce, the archive for evaluate).
        expect(step.with.path).toMatch(/^\$\{\{ runner\.temp \}\}\/(artifacts|images|image)$/);
        expect(step.with["merge-multiple"]).toBeUndefined();
      }
    }
  });

  it("never checks out the pull request: every checkout is the base branch, without persisted credentials", () => {
    for (const job of Object.values<Json>(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (!String(step.uses ?? "").startsWith("actions/checkout@")) continue;
        expect(step.with.ref).toBe("${{ github.sha }}");
        expect(step.with["persist-credentials"]).toBe(false);
        expect(step.with.repository).toBeUndefined();
      }
    }
  });

  it("runs exactly the planned SHA, never the branch tip", () => {
    const steps: Json[] = workflow.jobs.evaluate.steps;
    const materialize = steps.find((s) => s.with?.mode === "materialize")!;
    expect(materialize.with["head-sha"]).toBe("${{ needs.plan.outputs.head-sha }}");
    expect(JSON.stringify(workflow.jobs.evaluate)).not.toContain("pull_request.head");
  });
});
