// The crucible CLI, run as a researcher runs it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateResultDocument } from "../actions/lib/src/index.js";
import { binDir, cliBin, experimentYaml, makeExperiment, repoRoot } from "./support/repo.js";

// Monitoring: wait for the trace socket if another run of this suite holds it, so each run is monitored.
function crucible(args: string[], cwd = repoRoot) {
  const env = { ...process.env, CRUCIBLE_MONITORING_WAIT: "600" };
  const run = spawnSync(path.join(binDir, "node"), [cliBin, ...args], { cwd, env, encoding: "utf8", timeout: 300_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("crucible validate", () => {
  it("accepts the committed experiments", () => {
    const run = crucible(["validate", "experiments"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("ok  experiments/hello-sandbox/experiment.yaml");
  });

  it("exits non-zero with path:line:column: message for an invalid file", async () => {
    const file = await makeExperiment("bad", { "experiment.yaml": experimentYaml("bad", { command: '"python3 main.py"' }), "main.py": "" });
    const run = crucible(["validate", path.dirname(file)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:5:10: command must be an argv array such as [python3, main.py]`);
  });
});

describe("crucible run", () => {
  it("streams the program's lines with elapsed time and writes a valid result", async () => {
    const resultsDir = await mkdtemp(path.join(os.tmpdir(), "crucible-cli-"));
    const run = crucible(["run", "experiments/hello-sandbox/experiment.yaml", "--results-dir", resultsDir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^==> run$/m);
    expect(run.stdout).toMatch(/^\[\+\d+\.\d{3}s stdout\] hello from inside gVisor$/m);
    expect(run.stdout).toMatch(/^\[\+\d+\.\d{3}s stdout\] progress 5\/5 \(100%\)$/m);
    expect(run.stdout).toContain("==> succeeded: The program exited with code 0.");
    // hello-sandbox's two deliberate egress probes and its dmesg (which reads the kernel log) are its declared
    // network-probe and kernel-probe: counted, not alerted.
    expect(run.stdout).toMatch(
      new RegExp(
        String.raw`^ {4}behaviour: tried nothing the rules flag \(\d+ events\); declared, not alerted: ` +
          String.raw`(?=.*host-recon ×1 \(kernel-probe\))(?=.*kernel-log-read ×2 \(kernel-probe\))` +
          String.raw`(?=.*network-egress ×2 \(network-probe\))`,
        "m",
      ),
    );
    const [runId] = await readdir(resultsDir);
    const result = JSON.parse(await readFile(path.join(resultsDir, runId!, "result.json"), "utf8"));
    expect(validateResultDocument(result)).toBe(true);
    expect(result.status).toBe("succeeded");
  });

  it("refuses an invalid experiment with a clear message and writes nothing", async () => {
    const file = await makeExperiment("escape", { "experiment.yaml": experimentYaml("escape", { inputs: "[../../etc/passwd]" }) });
    const run = crucible(["run", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}:6:10: input "../../etc/passwd" must not contain \`..\``);
    expect(existsSync(path.join(path.dirname(file), "results"))).toBe(false);
  });

  it("explains usage errors", () => {
    const run = crucible(["launch"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "launch"');
    expect(run.stderr).toContain("usage: crucible <command>");
  });
});
