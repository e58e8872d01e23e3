// Behaviour monitoring against the real runsc through Docker: the runtime entries runsc-monitored-<k>
// (runner-setup/setup.sh) stream gVisor's trace points to this process. Nothing here is mocked.
import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, stat, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import {
  alertAnnotations,
  applyOverrides,
  behaviourLine,
  checkMonitoring,
  decodeMessage,
  MonitorSession,
  loadExperiment,
  loadPolicy,
  loadRules,
  runExperiment,
  SYSCALL_NUMBERS,
  validateResultDocument,
  type MonitoringSetup,
  type RuleSet,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { DockerSandboxProvider, findMonitoringSetup } from "../actions/lib/src/docker/index.js";
import { runAction } from "./support/action.js";
import { binDir, cliBin, experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";
import { FakeSandboxProvider } from "./support/fake-sandbox.js";
import { interpretRunnerLog } from "./support/runner-log.js";

const docker = new Docker();
let policy: SandboxPolicy;
let provider: DockerSandboxProvider;
let channels: MonitoringSetup[];
let rules: RuleSet;

beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  provider = new DockerSandboxProvider(policy.runtime, imagesDir, docker);
  await provider.prepareImage("base");
  const found = await findMonitoringSetup(docker, { runtime: policy.runtime });
  if (!found.ok) throw new Error(`monitoring is not set up on this host: ${found.reason}`);
  channels = found.channels;
  rules = await loadRules(path.join(repoRoot, "runner-setup/monitoring-rules.json"));
});

async function runMonitored(name: string, program: string, options: { extra?: string; resources?: string; rules?: RuleSet } = {}) {
  const yaml = experimentYaml(name, { extra: options.extra, resources: options.resources });
  const file = await makeExperiment(name, { "experiment.yaml": yaml, "main.py": program });
  const experiment = await loadExperiment(file, { imagesDir });
  const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
  const outcome = await runExperiment({
    experiment,
    policy,
    provider,
    repoRoot: path.resolve(file, "../../.."),
    resultsRoot,
    monitoring: { channels, rules: options.rules ?? rules, lockWaitMs: 10 * 60_000 },
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
  it("finds one traced runtime with its own trace socket for every sandbox the policy lets run at once", () => {
    expect(channels.length).toBeGreaterThanOrEqual(policy.limits.maxConcurrentSandboxes);
    expect(channels).toEqual(
      channels.map((_, k) => ({
        runtime: `runsc-monitored-${k}`,
        podInitConfig: `/etc/crucible/monitoring/pod-init-${k}.json`,
        endpoint: `/run/crucible/monitoring/sink-${k}.sock`,
      })),
    );
  });

  it("raises exactly connect, unshare, shell and /proc/sys write alerts, with the process that tried", async () => {
    const result = await runMonitored("tries-four-things", ATTEMPTS);
    expect(result.status).toBe("succeeded");
    expect(result.policy).toMatchObject({ HostConfig: { Runtime: expect.stringMatching(/^runsc-monitored-\d+$/) } });
    expect(result.monitoring).toMatchObject({ status: "available", collector: "ok" });
    const byRule = Object.fromEntries((result.alerts ?? []).map((a) => [a.rule, a]));
    expect(Object.keys(byRule).sort()).toEqual(["kernel-tunables-write", "namespace-escape", "network-egress", "shell-exec"]);
    expect(byRule["network-egress"]!.examples[0]).toMatchObject({ process: "python3", detail: ["10.1.2.3:80"] });
    expect(byRule["namespace-escape"]!.examples[0]).toMatchObject({
      process: "python3",
      detail: ["unshare", "0x10000000", expect.any(String)],
    });
    expect(byRule["shell-exec"]!.examples[0]).toMatchObject({ process: "python3", detail: ["/bin/sh", "/bin/sh", "-c", "true"] });
    expect(byRule["kernel-tunables-write"]!.examples[0]).toMatchObject({ process: "python3", detail: ["/proc/sys/kernel/core_pattern"] });
    expect(byRule["network-egress"]!.severity).toBe("high");
  });

  it("a quiet program raises nothing, and the result names the three sources alerts could come from", async () => {
    const result = await runMonitored("quiet", 'import json, os, threading\nprint(json.dumps({"cpus": os.cpu_count()}))\n');
    expect(result.status).toBe("succeeded");
    expect(result.alerts ?? []).toEqual([]);
    expect(result.monitoring).toMatchObject({ status: "available", collector: "ok", sources: ["trace", "output", "outcome"] });
  });

  it("reading kernel and host-identifying interfaces raises exactly the recon alerts, of kind recon", async () => {
    const result = await runMonitored(
      "recon",
      `
import ctypes
for path in ["/proc/kallsyms", "/proc/cmdline", "/proc/sys/kernel/hostname", "/sys/kernel/notes", "/sys/class/dmi/id/product_name"]:
    try:
        open(path).read(100)
    except OSError as e:
        print(path, e.errno)
buf = ctypes.create_string_buffer(256)
print("syslog:", ctypes.CDLL(None, use_errno=True).klogctl(3, buf, 256))
`,
    );
    expect(result.status).toBe("succeeded");
    expect((result.alerts ?? []).map((a) => [a.rule, a.severity, a.kind, a.count])).toEqual([
      ["host-recon", "medium", "recon", 5],
      ["kernel-log-read", "medium", "recon", 1],
    ]);
    const recon = result.alerts!.find((a) => a.rule === "host-recon")!;
    expect(recon.examples.map((e) => e.detail[0])).toEqual([
      "/proc/kallsyms",
      "/proc/cmdline",
      "/proc/sys/kernel/hostname",
      "/sys/kernel/notes",
      "/sys/class/dmi/id/product_name",
    ]);
    expect(recon.examples[0]!.process).toBe("python3");
  });

  it("a program killed at its time limit raises exactly time-limit, from the outcome", async () => {
    const result = await runMonitored("spins", "while True:\n    pass\n", { resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 3s" });
    expect(result.status).toBe("timed-out");
    expect((result.alerts ?? []).map((a) => [a.rule, a.severity, a.kind, a.count])).toEqual([["time-limit", "low", "resources", 1]]);
    expect(result.alerts![0]!.examples[0]).toMatchObject({ process: "(run outcome)", detail: [result.statusReason] });
    // Placed when the program's output ended, which is after its 3 s limit.
    expect(result.alerts![0]!.examples[0]!.t).toBeGreaterThanOrEqual(3);
  });

  it("a fork bomb at its process limit raises exactly process-limit, from clone failing with EAGAIN", async () => {
    const result = await runMonitored(
      "fork-bomb",
      `
import os, resource, signal, time
resource.setrlimit(resource.RLIMIT_NPROC, (16, 16))
children = []
try:
    for i in range(100):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as e:
    print("stopped after", len(children), "children:", e.errno)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
`,
    );
    expect(result.status).toBe("succeeded");
    expect((result.alerts ?? []).map((a) => [a.rule, a.severity, a.kind])).toEqual([["process-limit", "medium", "resources"]]);
    expect(result.alerts![0]!.count).toBeGreaterThanOrEqual(1);
    // This runsc sends raw exit points without context: the process name is unknown (MONITORING.md).
    expect(result.alerts![0]!.examples[0]).toMatchObject({ process: "(not traced)", detail: ["clone failed with EAGAIN"] });
    expect(result.alerts![0]!.examples[0]!.t).toBeGreaterThan(0);
  });

  it("running out of file descriptors raises exactly descriptor-limit, from open() failing with EMFILE", async () => {
    const result = await runMonitored(
      "fd-exhaustion",
      `
import os, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print("stopped after", len(fds), "descriptors:", e.errno)
`,
    );
    expect(result.status).toBe("succeeded");
    expect((result.alerts ?? []).map((a) => [a.rule, a.severity, a.kind, a.count])).toEqual([["descriptor-limit", "low", "resources", 1]]);
    expect(result.alerts![0]!.examples[0]).toMatchObject({ process: "python3", detail: ["/dev/null", "EMFILE"] });
  });

  it("printing workflow commands and terminal escapes raises exactly output-control, counted per kind, never the text", async () => {
    const result = await runMonitored(
      "prints-controls",
      `
import sys
print("::error title=x::forged annotation")
print("  ##[group]forged group")
print("\\x1b]8;;https://example.invalid\\x07link\\x1b]8;;\\x07 and \\x1b[31mred\\x1b[0m")
print("bidi \\u202e reversed")
sys.stdout.flush()
`,
    );
    expect(result.status).toBe("succeeded");
    expect((result.alerts ?? []).map((a) => [a.rule, a.severity, a.kind, a.count])).toEqual([["output-control", "medium", "injection", 9]]);
    expect(result.alerts![0]!.examples).toEqual([
      {
        t: expect.any(Number),
        process: "(output relay)",
        detail: ["workflow-command ×2", "escape-sequence ×4", "control-character ×2", "bidi-control ×1"],
      },
    ]);
    // Only counts reach the result: none of the printed text, escaped or not.
    expect(JSON.stringify(result.alerts)).not.toMatch(/forged|example\.invalid|\\u001b/);
  });

  it("bounds a flood of openat events: the run finishes and every event not evaluated is counted", async () => {
    const tight = applyOverrides(rules, { limits: { eventsPerSecond: 500, maxEvents: 2000 } }, "test");
    const result = await runMonitored(
      "open-flood",
      `
for i in range(20000):
    open("/etc/hostname").close()
print("done")
`,
      { rules: tight },
    );
    expect(result.status).toBe("succeeded");
    const monitoring = result.monitoring!;
    if (monitoring.status !== "available") throw new Error(`monitoring unavailable: ${monitoring.reason}`);
    expect(monitoring.collector).toBe("overloaded");
    expect(monitoring.events.evaluated).toBeLessThanOrEqual(2000);
    const { bySandbox, byRate, byTotal, byBytes, malformed } = monitoring.dropped;
    expect(byRate + byTotal).toBeGreaterThan(0);
    expect(malformed).toBe(0);
    expect(byBytes).toBe(0);
    // Every open the program made is accounted for: evaluated, dropped by our bounds, or dropped by the Sentry.
    expect(monitoring.events.received + bySandbox).toBeGreaterThanOrEqual(20000);
    expect(behaviourLine(result)).toMatch(/events not evaluated/);
  });

  it("keeps hostile process names and paths as inert data in the result, the annotations and the behaviour line", async () => {
    const result = await runMonitored(
      "hostile-names",
      `
import ctypes
libc = ctypes.CDLL(None)
libc.prctl(15, b"\x1b]0;x\x07::error::", 0, 0, 0)
for name in ["/proc/sys/\u202e::warning::<script>x</script>", "/sys/%0A::set-output name=a::b"]:
    try:
        open(name, "w")
    except OSError:
        pass
`,
    );
    const alert = result.alerts!.find((a) => a.rule === "kernel-tunables-write")!;
    expect(alert.count).toBe(2);
    // The result keeps exactly what the program set (15 bytes: the Sentry keeps what fits in comm).
    expect(alert.examples.map((e) => e.process)).toEqual(["\x1b]0;x\x07::error::", "\x1b]0;x\x07::error::"]);
    expect(alert.examples.map((e) => e.detail[0])).toEqual([
      "/proc/sys/\u202e::warning::<script>x</script>",
      "/sys/%0A::set-output name=a::b",
    ]);
    for (const shown of [...alertAnnotations(result.alerts!).map((a) => a.message), behaviourLine(result)]) {
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      expect(shown).not.toMatch(/[\x00-\x08\x0a-\x1f\x7f\u202e]/);
      expect(shown).not.toMatch(/^::/m);
    }
  });

  it("does not raise what the experiment declared, and records it as suppressed", async () => {
    const result = await runMonitored(
      "declares-subprocess",
      `
import subprocess
subprocess.run(["/bin/sh", "-c", "true"])
`,
      { extra: "behaviours: [subprocess]" },
    );
    expect(result.alerts ?? []).toEqual([]);
    expect(result.monitoring).toMatchObject({
      status: "available",
      suppressed: [{ rule: "shell-exec", behaviour: "subprocess", count: 1 }],
    });
  });

  it("counts hello-sandbox's egress probes and its dmesg as declared network-probe and kernel-probe: no alert", async () => {
    // hello-sandbox tries 1.1.1.1:53 and 169.254.169.254:80 on purpose, to show they fail, and runs dmesg to show
    // which kernel answers; it declares both.
    const experiment = await loadExperiment(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), { imagesDir });
    expect(experiment.spec.behaviours).toEqual(["network-probe", "kernel-probe"]);
    const run = async (declared: typeof experiment) => {
      const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
      const { result } = await runExperiment({
        experiment: declared,
        policy,
        provider,
        repoRoot,
        resultsRoot,
        monitoring: { channels, rules, lockWaitMs: 10 * 60_000 },
      });
      expect(result.status).toBe("succeeded");
      expect(result.monitoring).toMatchObject({ status: "available", collector: "ok" });
      return result;
    };
    const result = await run(experiment);
    expect(result.alerts ?? []).toEqual([]);
    const suppressed = (result.monitoring as { suppressed: { rule: string; behaviour: string; count: number }[] }).suppressed;
    expect([...suppressed].sort((a, b) => a.rule.localeCompare(b.rule))).toEqual([
      { rule: "host-recon", behaviour: "kernel-probe", count: 1 },
      { rule: "kernel-log-read", behaviour: "kernel-probe", count: 2 },
      { rule: "network-egress", behaviour: "network-probe", count: 2 },
    ]);
    expect(behaviourLine(result)).toMatch(/^tried nothing the rules flag \(\d+ events\); declared, not alerted: /);
    // Without the declaration the same probes are a high-severity alert: the declaration is what hides them.
    const undeclared = await run({ ...experiment, spec: { ...experiment.spec, behaviours: [] } });
    expect(undeclared.alerts!.map((a) => [a.rule, a.severity, a.examples.map((e) => e.detail[0])])).toEqual([
      ["network-egress", "high", ["1.1.1.1:53", "169.254.169.254:80"]],
      ["host-recon", "medium", ["/dev/kmsg"]],
      ["kernel-log-read", "medium", ["syslog", "syslog"]],
    ]);
    expect(undeclared.monitoring).toMatchObject({ suppressed: [] });
  });

  it("three runs at once each get their own traced runtime and exactly their own alerts", async () => {
    const [connects, shell, quiet] = await Promise.all([
      runMonitored(
        "concurrent-connects",
        "import socket, time\ns = socket.socket()\ntry:\n    s.connect(('10.7.7.7', 80))\nexcept OSError:\n    pass\ntime.sleep(2)\n",
      ),
      runMonitored("concurrent-shell", "import subprocess, time\nsubprocess.run(['/bin/sh', '-c', 'true'])\ntime.sleep(2)\n"),
      runMonitored("concurrent-quiet", "import time\nprint('quiet')\ntime.sleep(2)\n"),
    ]);
    for (const result of [connects, shell, quiet]) {
      expect(result.status).toBe("succeeded");
      expect(result.monitoring).toMatchObject({ status: "available", collector: "ok", problems: [] });
    }
    // Each run leased its own runtime for the whole of its sandbox's life, so the three sessions overlapped.
    const runtimes = [connects, shell, quiet].map((r) => (r.monitoring as { runtime: string }).runtime);
    expect(new Set(runtimes).size).toBe(3);
    expect([connects, shell, quiet].map((r) => r.policy.HostConfig)).toEqual(
      runtimes.map((Runtime) => expect.objectContaining({ Runtime })),
    );
    expect(connects.alerts!.map((a) => [a.rule, a.examples.map((e) => e.detail[0])])).toEqual([["network-egress", ["10.7.7.7:80"]]]);
    expect(shell.alerts!.map((a) => [a.rule, a.examples.map((e) => e.detail[0])])).toEqual([["shell-exec", ["/bin/sh"]]]);
    expect(quiet.alerts ?? []).toEqual([]);
  });

  it("records monitoring as unavailable, naming the holders, when every traced runtime is in use", async () => {
    const holders: MonitorSession[] = [];
    try {
      for (const _ of channels)
        holders.push(await MonitorSession.open(channels, rules, [], { holder: "test-holder", lockWaitMs: 60_000, drainMs: 0 }));
      expect(new Set(holders.map((h) => h.setup.runtime)).size).toBe(channels.length);
      const file = await makeExperiment("while-busy", { "experiment.yaml": experimentYaml("while-busy"), "main.py": "print('hi')\n" });
      const experiment = await loadExperiment(file, { imagesDir });
      const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
      const { result } = await runExperiment({
        experiment,
        policy,
        provider,
        repoRoot: path.resolve(file, "../../.."),
        resultsRoot,
        monitoring: { channels, rules, lockWaitMs: 500 },
      });
      expect(result.status).toBe("succeeded");
      expect(result.policy).toMatchObject({ HostConfig: { Runtime: "runsc" } });
      expect(result.monitoring).toEqual({
        status: "unavailable",
        reason: `no trace socket could be opened: all ${channels.length} traced runtimes on this host are in use, by ${channels
          .map(() => `test-holder (pid ${process.pid})`)
          .join(", ")}`,
        // The output relay and the outcome are still watched.
        sources: ["output", "outcome"],
      });
      expect(behaviourLine(result)).toMatch(/^not monitored: /);
    } finally {
      for (const holder of holders) await holder.close();
    }
  });

  it("takes over the traced runtime of a run killed with SIGKILL, and traces the next run on it", async () => {
    const leaseDir = path.dirname(channels[0]!.endpoint);
    // Every runtime but the last is held here, so the killed run gets the last and the next run can only take it over.
    const others: MonitorSession[] = [];
    try {
      for (const _ of channels.slice(1))
        others.push(await MonitorSession.open(channels, rules, [], { holder: "test-holder", lockWaitMs: 60_000, drainMs: 0 }));
      const last = channels.at(-1)!;
      expect(others.map((o) => o.setup.runtime)).not.toContain(last.runtime);
      const file = await makeExperiment("killed-holder", {
        "experiment.yaml": experimentYaml("killed-holder", { resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 600s" }),
        "main.py": "import time\nprint('holding', flush=True)\ntime.sleep(600)\n",
      });
      const child = spawn(
        path.join(binDir, "node"),
        [cliBin, "run", file, "--results-dir", await mkdtemp(path.join(os.tmpdir(), "crucible-killed-"))],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            CRUCIBLE_SLOT_DIR: await mkdtemp(path.join(os.tmpdir(), "crucible-slots-")),
            CRUCIBLE_MONITORING_WAIT: "600",
          },
        },
      );
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
      const exited = new Promise((resolve) => child.on("close", resolve));
      while (!output.includes("holding")) {
        if (child.exitCode !== null) throw new Error(`the run ended early: ${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const lockFile = path.join(leaseDir, `slot-${channels.length - 1}.lock`);
      expect(JSON.parse(await readFile(lockFile, "utf8"))).toMatchObject({ labels: { "crucible.owner.pid": String(child.pid) } });
      child.kill("SIGKILL");
      await exited;
      // Its lease and socket are left behind; its sandbox too (crucible gc's work), removed here.
      expect((await stat(last.endpoint)).isSocket()).toBe(true);
      const orphans = await docker.listContainers({ all: true, filters: { label: ["crucible.experiment=killed-holder"] } });
      await Promise.all(orphans.map((o) => docker.getContainer(o.Id).remove({ force: true })));

      const result = await runMonitored("after-kill", "import os\nos.system('/bin/sh -c true')\n");
      expect(result.monitoring).toMatchObject({ status: "available", runtime: last.runtime, collector: "ok", problems: [] });
      expect(result.alerts!.map((a) => a.rule)).toEqual(["shell-exec"]);
      expect((await readdir(leaseDir)).filter((f) => /\.lock$|takeover/.test(f) && f.startsWith("slot-")).sort()).toEqual(
        others.map((o) => `slot-${channels.findIndex((c) => c.runtime === o.setup.runtime)}.lock`).sort(),
      );
    } finally {
      for (const other of others) await other.close();
    }
  });

  it("the run action's bundle, moved where no node_modules exist, monitors and annotates one line per raised rule", async () => {
    // The runner runs dist/index.js from the action's checkout; bundle.js and the native addon ship beside it.
    const root = await mkdtemp(path.join(os.tmpdir(), "crucible-bundle-"));
    await mkdir(path.join(root, "actions/run/dist"), { recursive: true });
    for (const file of await readdir(path.join(repoRoot, "actions/run/dist")))
      await copyFile(path.join(repoRoot, "actions/run/dist", file), path.join(root, "actions/run/dist", file));
    await symlink(path.join(repoRoot, "runner-setup"), path.join(root, "runner-setup"));
    const file = await makeExperiment("action-tries", { "experiment.yaml": experimentYaml("action-tries"), "main.py": ATTEMPTS });
    const workspace = path.resolve(file, "../../..");
    const run = await runAction(path.join(root, "actions/run/dist/index.js"), {
      inputs: { experiment: path.relative(workspace, file) },
      env: { GITHUB_WORKSPACE: workspace, CRUCIBLE_MONITORING_WAIT: "600" },
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const annotations = interpretRunnerLog(run.stdout).commands.filter((c) => ["error", "warning", "notice"].includes(c.name));
    expect(annotations.map((a) => [a.name, a.properties])).toEqual([
      // The title names the rule's severity and kind; "," is escaped as %2C in a workflow command's property.
      ["error", "title=behaviour%3A kernel-tunables-write (high%2C privilege)"],
      ["error", "title=behaviour%3A namespace-escape (high%2C privilege)"],
      ["error", "title=behaviour%3A network-egress (high%2C network)"],
      ["warning", "title=behaviour%3A shell-exec (medium%2C privilege)"],
    ]);
    expect(annotations[2]!.data).toBe(
      "The program tried to connect to a network address other than loopback (1×). First at " + annotations[2]!.data.split("First at ")[1],
    );
    expect(annotations[2]!.data).toMatch(/by process "python3": "10\.1\.2\.3:80"$/);
    expect(run.summary).toContain("Behaviour");
    // The summary's values go through escapeMarkdown (&#40; is "(").
    expect(run.summary).toContain(
      "<td>tried&#58;&#8203; kernel-tunables-write ×1 &#40;high&#41;, namespace-escape ×1 &#40;high&#41;, " +
        "network-egress ×1 &#40;high&#41;, shell-exec ×1 &#40;medium&#41;</td>",
    );
  });

  it("a multi-stage run records each stage's monitoring and the run's alerts together", async () => {
    const yaml = [
      "apiVersion: crucible/v1",
      "name: staged-tries",
      "description: staged test",
      "image: base",
      "inputs: [shell.py, net.py]",
      "resources: {cpus: 1, memory: 256Mi, timeout: 60s}",
      "stages:",
      "  first:",
      "    command: [python3, shell.py]",
      "  second:",
      "    needs: [first]",
      "    command: [python3, net.py]",
      "",
    ].join("\n");
    const file = await makeExperiment("staged-tries", {
      "experiment.yaml": yaml,
      "shell.py": "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'true'])\n",
      "net.py": "import socket\ns = socket.socket()\ntry:\n    s.connect(('10.9.9.9', 443))\nexcept OSError:\n    pass\n",
    });
    const experiment = await loadExperiment(file, { imagesDir });
    const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
    const { result, resultFile } = await runExperiment({
      experiment,
      policy,
      provider,
      repoRoot: path.resolve(file, "../../.."),
      resultsRoot,
      monitoring: { channels, rules, lockWaitMs: 10 * 60_000 },
    });
    expect(validateResultDocument(JSON.parse(await readFile(resultFile, "utf8"))), JSON.stringify(validateResultDocument.errors)).toBe(
      true,
    );
    expect(result.status).toBe("succeeded");
    expect(result.stages!.map((s) => [s.name, s.monitoring?.status, (s.alerts ?? []).map((a) => a.rule)])).toEqual([
      ["first", "available", ["shell-exec"]],
      ["second", "available", ["network-egress"]],
    ]);
    expect(result.monitoring).toMatchObject({ status: "available", collector: "ok" });
    expect(result.alerts!.map((a) => [a.rule, a.count])).toEqual([
      ["network-egress", 1],
      ["shell-exec", 1],
    ]);
  });

  it("doctor: passes on this runner, fails when the runtime does not trace, warns when the runner is not set up", async () => {
    expect(await checkMonitoring(provider, policy, { channels, rules })).toEqual({
      status: "pass",
      result: expect.stringMatching(
        new RegExp(`^runsc-monitored-\\d+ traced the probe sandbox .*; ${channels.length} traced runtimes for up to 4 sandboxes at once$`),
      ),
    });
    // Fewer traced runtimes than sandboxes at once: the runs beyond them would not be monitored.
    expect(await checkMonitoring(provider, policy, { channels: channels.slice(0, 2), rules })).toMatchObject({
      status: "warn",
      result: expect.stringMatching(/only 2 traced runtime\(s\) for up to 4 sandboxes at once/),
    });
    const untraced = await checkMonitoring(provider, policy, { channels: [{ ...channels[0]!, runtime: "runsc" }], rules });
    expect(untraced).toEqual({
      status: "fail",
      result: expect.stringMatching(/never connected to the trace socket/),
      fix: expect.stringContaining("MONITORING.md"),
    });
    // A policy with GPUs also needs each channel's GPU variant; the doctor reports it missing with the fix.
    const gpuPolicy = { ...policy, limits: { ...policy.limits, maxGpus: 1 }, gpu: { runtime: "runsc-nvproxy", leaseDir: "/nonexistent" } };
    const gpuUnavailable = 'Docker has no GPU runtime "runsc-nvproxy" (runner-setup/GPU.md), so none traced either';
    const gpuMissing = await checkMonitoring(provider, gpuPolicy, { channels, rules, gpuUnavailable });
    expect(gpuMissing.result.endsWith(gpuUnavailable)).toBe(true);
    expect(gpuMissing).toEqual({
      status: "warn",
      result: expect.stringMatching(/^runsc-monitored-\d+ traced the probe sandbox .* at once, but sandboxes with GPUs are not traced: /),
      fix: expect.stringMatching(/^register the GPU runtime runsc-nvproxy \(runner-setup\/GPU.md\), then run runner-setup\/setup.sh/),
    });
    const withGpu = channels.map((c, k) => ({ ...c, gpuRuntime: `runsc-nvproxy-monitored-${k}` }));
    expect(await checkMonitoring(provider, gpuPolicy, { channels: withGpu, rules })).toEqual({
      status: "pass",
      result: expect.stringMatching(/at once, each with its GPU variant \(runsc-nvproxy-monitored-0 … runsc-nvproxy-monitored-\d+\)$/),
    });
    expect(await checkMonitoring(provider, policy, { unavailable: 'Docker has no runtime "runsc-monitored-0"' })).toEqual({
      status: "warn",
      result: 'unavailable: Docker has no runtime "runsc-monitored-0"',
      fix: expect.stringContaining("runner-setup/setup.sh"),
    });
  });
});

describe("monitoring rules and wire format without a sandbox", () => {
  it("without the trace, the output relay's and the outcome's alerts are still raised, and the result says so", async () => {
    const file = await makeExperiment("untraced-signals", { "experiment.yaml": experimentYaml("untraced-signals"), "main.py": "" });
    const provider = new FakeSandboxProvider({
      python3: async (io) => {
        io.stdout("::add-mask::nothing\n\u001b[2Jcleared\n");
        return "oom-killed";
      },
    });
    const { result } = await runExperiment({
      experiment: await loadExperiment(file, { imagesDir }),
      policy,
      provider,
      repoRoot: path.resolve(file, "../../.."),
      resultsRoot: await mkdtemp(path.join(os.tmpdir(), "crucible-results-")),
      monitoring: { unavailable: "test: this runner has no traced runtime", rules },
    });
    expect(result.status).toBe("oom-killed");
    expect(result.monitoring).toEqual({
      status: "unavailable",
      reason: "test: this runner has no traced runtime",
      sources: ["output", "outcome"],
    });
    expect((result.alerts ?? []).map((a) => [a.rule, a.kind, a.count, a.examples[0]!.detail])).toEqual([
      ["output-control", "injection", 2, ["workflow-command ×1", "escape-sequence ×1"]],
      ["memory-limit", "resources", 1, [result.statusReason]],
    ]);
    expect(behaviourLine(result)).toBe(
      "not monitored: test: this runner has no traced runtime; " +
        "seen in the output and the outcome: output-control ×2 (medium), memory-limit ×1 (low)",
    );
    // Without rules at all (a caller that gives none), nothing is raised and no source is claimed.
    const bare = await runExperiment({
      experiment: await loadExperiment(file, { imagesDir }),
      policy,
      provider,
      repoRoot: path.resolve(file, "../../.."),
      resultsRoot: await mkdtemp(path.join(os.tmpdir(), "crucible-results-")),
      monitoring: { unavailable: "no rules" },
    });
    expect(bare.result.alerts).toEqual([]);
    expect(bare.result.monitoring).toEqual({ status: "unavailable", reason: "no rules", sources: [] });
  });

  it("the trace session template asks runsc for every raw point the rules read", async () => {
    const template = JSON.parse(await readFile(path.join(repoRoot, "runner-setup/monitoring/pod-init.json"), "utf8")) as {
      trace_session: { points: { name: string }[] };
    };
    const points = template.trace_session.points.map((p) => p.name);
    for (const sysno of Object.values(SYSCALL_NUMBERS)) expect(points).toContain(`syscall/sysno/${sysno}/enter`);
    // clone, fork and vfork at exit: their EAGAIN is the process limit biting.
    for (const sysno of [56, 57, 58]) expect(points).toContain(`syscall/sysno/${sysno}/exit`);
    // Every rule has a kind, and every containment category is some rule's kind.
    expect(new Set(rules.rules.map((r) => r.kind))).toEqual(
      new Set(["network", "filesystem", "resources", "privilege", "recon", "persistence", "injection"]),
    );
  });

  it("applies a runner policy's overrides and refuses ones that name no rule", () => {
    const changed = applyOverrides(
      rules,
      { rules: { "shell-exec": { severity: "high" }, "read-only-write": { enabled: false } }, limits: { maxEvents: 10 } },
      "policy.json",
    );
    expect(changed.rules.find((r) => r.id === "shell-exec")!.severity).toBe("high");
    expect(changed.rules.some((r) => r.id === "read-only-write")).toBe(false);
    expect(changed.limits).toEqual({ ...rules.limits, maxEvents: 10 });
    expect(() => applyOverrides(rules, { rules: { "no-such-rule": { enabled: false } } }, "policy.json")).toThrow(
      /policy.json: monitoring override names the rule "no-such-rule", which does not exist/,
    );
    expect(() => applyOverrides(rules, { rules: { "shell-exec": { severity: "urgent" as never } } }, "policy.json")).toThrow(
      /policy.json: monitoring overrides are invalid/,
    );
  });

  it("decodes a captured message of this runsc, and refuses truncated or hostile bytes without throwing", () => {
    // syscall/connect/enter as runsc 0.0~20221219 sent it (header: size 8, type 10 connect, 0 dropped).
    const captured = Buffer.from(
      "08000a0000000000" +
        "0a2508c8a4dcaba388dbf6182002420e2f746d702f6d6f6e2d70726f62654a07707974686f6e33182a20032a0a736f636b65743a5b315d" +
        "3210020000500a0102030000000000000000",
      "hex",
    );
    const decoded = decodeMessage(captured);
    expect(decoded).toMatchObject({
      ok: true,
      header: { messageType: 10, droppedBySentry: 0 },
      event: { kind: "connect", fd: 3, fdPath: "socket:[1]", context: { processName: "python3", cwd: "/tmp/mon-probe" } },
    });
    expect(decoded.ok && decoded.event?.kind === "connect" && Array.from(decoded.event.address.subarray(0, 8))).toEqual([
      2, 0, 0, 0x50, 10, 1, 2, 3,
    ]);
    expect(decodeMessage(captured.subarray(0, 5))).toEqual({ ok: false, reason: "a message of 5 bytes has no valid header" });
    expect(decodeMessage(Buffer.concat([captured.subarray(0, 8), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])]))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^message type 10 does not decode/),
    });
    const huge = Buffer.concat([Buffer.from("08000b0000000000", "hex"), Buffer.from([0x32, 0x90, 0x4e]), Buffer.alloc(10000, 0x41)]);
    const long = decodeMessage(huge);
    expect(long.ok && long.event?.kind === "execve" && long.event.path.length).toBe(512);
  });
});
