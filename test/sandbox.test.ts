// Real runs through Docker and gVisor (runsc): nothing here is mocked.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import {
  SandboxUnavailableError,
  loadExperiment,
  loadPolicy,
  runExperiment,
  validateResultDocument,
  type RelayedLine,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { DockerSandboxProvider } from "../actions/lib/src/docker/index.js";
import { experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const docker = new Docker();
let policy: SandboxPolicy;
let provider: DockerSandboxProvider;

beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  provider = new DockerSandboxProvider(policy.runtime, imagesDir, docker);
  await provider.prepareImage("base");
});

async function runProgram(name: string, program: string, overrides: Parameters<typeof experimentYaml>[1] = {}) {
  const file = await makeExperiment(name, { "experiment.yaml": experimentYaml(name, overrides), "main.py": program });
  const experiment = await loadExperiment(file, { imagesDir });
  const lines: (RelayedLine & { at: number })[] = [];
  const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
  const outcome = await runExperiment({
    experiment,
    policy,
    provider,
    repoRoot: path.resolve(file, "../../.."),
    resultsRoot,
    events: { line: (line) => lines.push({ ...line, at: Date.now() }) },
  });
  return { ...outcome, lines, finishedAt: Date.now(), resultsRoot };
}

async function containersOfRun(runId: string) {
  return docker.listContainers({ all: true, filters: { label: [`crucible.run-id=${runId}`] } });
}

describe("hello-sandbox under gVisor", () => {
  it("runs in gVisor with no network and no writable place but /output and /tmp, and records a valid result", async () => {
    const experiment = await loadExperiment(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), { imagesDir });
    const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
    const lines: RelayedLine[] = [];
    const { result, resultDir } = await runExperiment({
      experiment,
      policy,
      provider,
      repoRoot,
      resultsRoot,
      events: { line: (l) => lines.push(l) },
    });

    expect(result.status).toBe("succeeded");
    expect(validateResultDocument(JSON.parse(await readFile(path.join(resultDir, "result.json"), "utf8")))).toBe(true);
    expect(result.runtime.name).toBe("runsc");
    expect(result.policy).toMatchObject({ HostConfig: { Runtime: "runsc", NetworkMode: "none", ReadonlyRootfs: true, CapDrop: ["ALL"] } });
    expect(result.experiment.path).toBe("experiments/hello-sandbox/experiment.yaml");

    const seen = JSON.parse(await readFile(path.join(resultDir, "output/observations.json"), "utf8"));
    // The kernel the program sees is gVisor's Sentry, not the host's.
    expect(seen.dmesg.value[0]).toContain("Starting gVisor");
    expect(seen.proc_version.value).not.toContain(os.release());
    expect(seen.uid.value).toBe(65534);
    expect(seen.interfaces.value).toEqual(["lo"]);
    for (const probe of ["tcp_public", "tcp_metadata", "dns", "write_rootfs", "write_inputs", "write_output_parent"]) {
      expect(seen[probe], probe).toMatchObject({ ok: false });
    }
    expect(seen.write_tmp.ok).toBe(true);
    expect(existsSync(path.join(os.tmpdir(), "crucible", result.runId))).toBe(false);

    expect(result.metrics).toEqual({ probes: 11, escapes_blocked: 5, steps: 5 });
    expect(result.artifacts.map((a) => a.path)).toEqual(["output/metrics.json", "output/observations.json"]);
    expect(lines.some((l) => l.stream === "stderr" && l.text === "a line on stderr")).toBe(true);
    expect(lines.filter((l) => l.progress).map((l) => l.progressText)).toContain("progress 5/5 (100%)");
    const log = await readFile(path.join(resultDir, "log.txt"), "utf8");
    expect(log.split("\n").filter(Boolean)).toHaveLength(result.log.lines);
    expect(log).toMatch(/^\[\+\d+\.\d{3}s stdout\] hello from inside gVisor$/m);
    expect(await containersOfRun(result.runId)).toEqual([]);
  });
});

describe("how runs end", () => {
  it("streams lines while the program runs and keeps a last line without a newline", async () => {
    const { result, lines, finishedAt } = await runProgram(
      "streaming",
      "import sys, time\nprint('first', flush=True)\ntime.sleep(2)\nsys.stdout.write('last without newline')\n",
    );
    expect(result.status).toBe("succeeded");
    expect(lines.map((l) => l.text)).toEqual(["first", "last without newline"]);
    // The first line reached us while the program was still sleeping, not at exit.
    expect(finishedAt - lines[0]!.at).toBeGreaterThan(1500);
  });

  it("records a non-zero exit as failed with its exit code and keeps the output", async () => {
    const { result } = await runProgram("failing", "import sys\nprint('about to fail')\nsys.exit(3)\n");
    expect(result).toMatchObject({ status: "failed", exitCode: 3, statusReason: "The program exited with code 3." });
    expect(result.log.tail.at(-1)).toMatch(/about to fail$/);
  });

  it("kills a program at its time limit and says so", async () => {
    const { result } = await runProgram("sleepy", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n", {
      resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 2s",
    });
    expect(result.status).toBe("timed-out");
    expect(result.statusReason).toContain("time limit of 2s");
    expect(result.durationSeconds).toBeLessThan(30);
    expect(result.log.tail.at(-1)).toMatch(/sleeping$/);
    expect(await containersOfRun(result.runId)).toEqual([]);
  });

  it("rejects an experiment that asks for more than the policy allows, without starting anything", async () => {
    const { result } = await runProgram("greedy", "print('never')\n", { resources: "  cpus: 64\n  memory: 256Mi\n  timeout: 60s" });
    expect(result.status).toBe("rejected");
    expect(result.statusReason).toContain("resources.cpus 64 exceeds the runner's limit of 2");
    expect(result.provenance.containerId).toBeNull();
    expect(await containersOfRun(result.runId)).toEqual([]);
  });

  it("collects only regular files from /output and reports links, FIFOs and missing declared files", async () => {
    const program = [
      "import os",
      "out = os.environ['CRUCIBLE_OUTPUT']",
      "os.symlink('/etc/passwd', out + '/passwd-link')",
      "os.mkfifo(out + '/fifo')",
      "open(out + '/ok.txt', 'w').write('fine')",
      'open(out + \'/metrics.json\', \'w\').write(\'{"score": 0.5, "label": "<b>x</b>", "__proto__": 7}\')',
    ].join("\n");
    const { result, resultDir } = await runProgram("outputs", program, { extra: "outputs:\n  files: [ok.txt, promised.txt]" });
    expect(result.status).toBe("succeeded");
    expect(result.artifacts.map((a) => a.path).sort()).toEqual(["output/metrics.json", "output/ok.txt"]);
    expect(result.metrics).toEqual({ score: 0.5 });
    const reasons = Object.fromEntries(result.dropped.map((d) => [d.path, d.reason]));
    expect(reasons["passwd-link"]).toBe("symbolic link (never followed)");
    expect(reasons["promised.txt"]).toBe("declared in outputs.files but not written");
    expect(reasons["metrics.json#label"]).toBe("the value is not a finite number");
    expect(reasons["metrics.json#__proto__"]).toMatch(/^not a metric name: a metric name is a letter/);
    expect(await readdir(path.join(resultDir, "output"))).toEqual(expect.arrayContaining(["ok.txt", "metrics.json"]));
    expect(existsSync(path.join(resultDir, "output/passwd-link"))).toBe(false);
  });
});

describe("concurrent runs", () => {
  it("two runs at once get separate sandboxes and output folders", async () => {
    const program =
      "import os, time\nrun = os.environ['CRUCIBLE_RUN_ID']\nopen(os.environ['CRUCIBLE_OUTPUT'] + '/who.txt', " +
      "'w').write(run)\ntime.sleep(1)\nprint(sorted(os.listdir(os.environ['CRUCIBLE_OUTPUT'])))\n";
    const [a, b] = await Promise.all([runProgram("twin-a", program), runProgram("twin-b", program)]);
    for (const run of [a, b]) {
      expect(run.result.status).toBe("succeeded");
      expect(await readFile(path.join(run.resultDir, "output/who.txt"), "utf8")).toBe(run.result.runId);
      expect(run.lines.map((l) => l.text)).toEqual(["['who.txt']"]);
    }
    expect(a.result.provenance.containerId).not.toBe(b.result.provenance.containerId);
  });
});

describe("when the sandbox cannot be had", () => {
  it("refuses to run when Docker is not reachable, and writes nothing", async () => {
    const down = new DockerSandboxProvider("runsc", imagesDir, new Docker({ socketPath: "/nonexistent/docker.sock" }));
    const file = await makeExperiment("nodocker", { "experiment.yaml": experimentYaml("nodocker"), "main.py": "" });
    const experiment = await loadExperiment(file, { imagesDir });
    const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
    const attempt = runExperiment({ experiment, policy, provider: down, repoRoot, resultsRoot });
    await expect(attempt).rejects.toThrow(SandboxUnavailableError);
    await expect(attempt).rejects.toThrow(/Docker daemon is not reachable.*npm run setup/);
    expect(await readdir(resultsRoot)).toEqual([]);
  });

  it("never falls back to runc when runsc is not registered", async () => {
    const missing = new DockerSandboxProvider("runsc-not-installed", imagesDir, docker);
    await expect(missing.preflight()).rejects.toThrow(
      /"runsc-not-installed" is not registered with Docker.*no fallback to runc.*apt-get install runsc/,
    );
  });
});
