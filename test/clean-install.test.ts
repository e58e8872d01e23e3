// A clean install: `npm ci` works from the committed lock file on any platform, and on a fresh clone both
// README commands leave every tracked file as it was (.ci/run checks the same after `npm test`).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/repo.js";

interface LockPackage {
  version?: string;
  optionalDependencies?: Record<string, string>;
}

describe("package-lock.json", () => {
  it("locks every platform's optional packages (npm leaves them out when it installs over node_modules)", async () => {
    const lock = JSON.parse(await readFile(path.join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };
    const missing: string[] = [];
    for (const [location, pkg] of Object.entries(lock.packages)) {
      for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
        // Node's resolution: the package's own node_modules, then each enclosing node_modules up to the root.
        const parts = location ? location.split("/node_modules/") : [];
        const enclosing = parts.map((_, i) => `${parts.slice(0, parts.length - i).join("/node_modules/")}/node_modules/${name}`);
        const candidates = [...enclosing, `node_modules/${name}`];
        if (!candidates.some((c) => lock.packages[c])) missing.push(`${name} (optional dependency of ${location || "the root"})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("is in sync with package.json: npm ci accepts it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-npm-ci-"));
    for (const file of ["package.json", "package-lock.json"]) await copyFile(path.join(repoRoot, file), path.join(dir, file));
    const args = ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"];
    const ci = spawnSync("npm", args, { cwd: dir, encoding: "utf8", timeout: 120_000 });
    expect(ci.status, ci.stderr).toBe(0);
  });
});

describe("a fresh clone", () => {
  it("after setup (npm ci) and `npm run demo`, git status lists no change to a tracked file", { timeout: 900_000 }, async () => {
    const clone = await mkdtemp(path.join(os.tmpdir(), "crucible-clone-"));
    try {
      await setUpAndDemo(clone);
    } finally {
      // node_modules alone is close to 1 GB.
      await rm(clone, { recursive: true, force: true });
    }
  });
});

/** Clones the repository, runs setup and `npm run demo` in the clone, and checks git status after each. */
async function setUpAndDemo(clone: string): Promise<void> {
  execFileSync("git", ["clone", "--quiet", "--no-hardlinks", repoRoot, clone]);
  const trackedChanges = () => execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: clone, encoding: "utf8" });
  // Only what the commands themselves put on PATH: a clean clone has no node_modules/.bin yet.
  const env = {
    PATH: process.env
      .PATH!.split(":")
      .filter((p) => !p.includes("node_modules"))
      .join(":"),
    HOME: os.homedir(),
  };

  const setup = spawnSync("bash", ["runner-setup/setup.sh"], { cwd: clone, env, encoding: "utf8", timeout: 600_000 });
  expect(setup.status, `${setup.stdout}\n${setup.stderr}`).toBe(0);
  expect(setup.stdout).toContain("[setup] installing npm dependencies (npm ci)");
  expect(trackedChanges()).toBe("");
  expect(execFileSync("git", ["status", "--porcelain"], { cwd: clone, encoding: "utf8" })).toBe("");

  const demo = spawnSync("npm", ["run", "demo"], { cwd: clone, env, encoding: "utf8", timeout: 600_000 });
  expect(demo.status, `${demo.stdout}\n${demo.stderr}`).toBe(0);
  expect(trackedChanges()).toBe("");
  // What the demo adds is its run, beside the experiment, and nothing else.
  const status = execFileSync("git", ["status", "--porcelain"], { cwd: clone, encoding: "utf8" });
  expect(status).toMatch(/^\?\? experiments\/hello-sandbox\/results\/\d{8}T\d{6}Z-[0-9a-f]{6}\/\n$/);
}
