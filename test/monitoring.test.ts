// Behaviour monitoring against the real runsc through Docker: the runtime entry runsc-monitored
// (runner-setup/setup.sh) streams gVisor's trace points to this process. Nothing here is mocked.
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DockerSandboxProvider,
  findMonitoringSetup,
  loadExperiment,
  loadPolicy,
  loadRules,
  runExperiment,
  validateResultDocument,
  type MonitoringSetup,
  type RuleSet,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const docker = new Docker();
let policy: SandboxPolicy;
let provider: DockerSandboxProvider;
let setup: MonitoringSetup;
let rules: RuleSet;

beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  provider = new DockerSandboxProvider(policy.runtime, imagesDir, docker);
  await provider.prepareImage("base");
  const found = await findMonitoringSetup(docker);
  if (!found.ok) throw new Error(`monitoring is not set up on this host: ${found.reason}`);
  setup = found.setup;
  rules = await loadRules(path.join(repoRoot, "runner-setup/monitoring-rules.json"));
});

async function runMonitored(name: string, program: string, options: { extra?: string; rules?: RuleSet } = {}) {
  const file = await makeExperiment(name, { "experiment.yaml": experimentYaml(name, { extra: options.extra }), "main.py": program });
  const experiment = await loadExperiment(file, { imagesDir });
  const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
  const outcome = await runExperiment({
    experiment,
    policy,
    provider,
    repoRoot: path.resolve(file, "../../.."),
    resultsRoot,
    monitoring: { setup, rules: options.rules ?? rules },
  });
  const written = JSON.parse(await readFile(outcome.resultFile, "utf8"));
  expect(validateResultDocument(written), JSON.stringify(validateResultDocument.errors)).toBe(true);
  return outcome.result;
}

const ATTEMPTS = `
import ctypes, os, socket, subprocess
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("10.1.2.3", 80))
except OSError as e:
    print("connect:", e)
libc = ctypes.CDLL(None, use_errno=True)
print("unshare:", libc.unshare(0x10000000), ctypes.get_errno())
print("sh:", subprocess.run(["/bin/sh", "-c", "true"]).returncode)
try:
    open("/proc/sys/kernel/core_pattern", "w").write("|/tmp/x")
except OSError as e:
    print("core_pattern:", e)
`;

describe("behaviour monitoring under runsc", () => {
  it("finds the monitored runtime and its trace socket", () => {
    expect(setup).toMatchObject({ runtime: "runsc-monitored", endpoint: "/run/crucible/monitoring/sink.sock" });
  });

  it("raises exactly connect, unshare, shell and /proc/sys write alerts, with the process that tried", async () => {
    const result = await runMonitored("tries-four-things", ATTEMPTS);
    expect(result.status).toBe("succeeded");
    expect(result.policy).toMatchObject({ HostConfig: { Runtime: "runsc-monitored" } });
    expect(result.monitoring).toMatchObject({ status: "available", collector: "ok" });
    const byRule = Object.fromEntries((result.alerts ?? []).map((a) => [a.rule, a]));
    expect(Object.keys(byRule).sort()).toEqual(["kernel-tunables-write", "namespace-escape", "network-egress", "shell-exec"]);
    expect(byRule["network-egress"]!.examples[0]).toMatchObject({ process: "python3", detail: ["10.1.2.3:80"] });
    expect(byRule["namespace-escape"]!.examples[0]).toMatchObject({ process: "python3", detail: ["unshare", "0x10000000", expect.any(String)] });
    expect(byRule["shell-exec"]!.examples[0]).toMatchObject({ process: "python3", detail: ["/bin/sh", "/bin/sh", "-c", "true"] });
    expect(byRule["kernel-tunables-write"]!.examples[0]).toMatchObject({ process: "python3", detail: ["/proc/sys/kernel/core_pattern"] });
    expect(byRule["network-egress"]!.severity).toBe("high");
  });
});
