// The Kubernetes sandbox provider end to end: the run (run.ts) on a "runner pod" configured by the
// committed scale-set values, against a local API server double (support/fake-kubernetes.ts) whose
// mini-kubelet runs each sandbox pod's container for real under runsc. Only the API server is replaced.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import {
  loadExperiment,
  loadPolicy,
  runExperiment,
  SandboxUnavailableError,
  validateResultDocument,
  type RelayedLine,
  type SandboxPolicy,
} from "../actions/lib/src/index.js";
import { assembleRun } from "../actions/lib/src/docker/index.js";
import {
  KubernetesClient,
  kubernetesProviderFromEnv,
  sandboxPod,
  type KubernetesSandboxProvider,
  type SandboxPodSettings,
} from "../actions/lib/src/kubernetes/index.js";
import { FakeKubernetes, type Json } from "./support/fake-kubernetes.js";
import { cliBin, experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const REGISTRY = "registry.crucible.internal";
const RUNNER = { name: "crucible-cpu-runner-x7k2p", uid: "0b6f3f52-6f0e-4f55-9a43-4f1a1f7d7c11", namespace: "crucible-runners" };
let fake: FakeKubernetes;
let policy: SandboxPolicy;
let exchange: string;
let env: Record<string, string>;
let provider: KubernetesSandboxProvider;
const SETTINGS: SandboxPodSettings = {
  namespace: "crucible-sandboxes",
  runtimeClass: "gvisor",
  gpuRuntimeClass: "gvisor-nvproxy",
  gpuResource: "nvidia.com/gpu",
  owner: { namespace: RUNNER.namespace, pod: RUNNER.name, uid: RUNNER.uid },
  exchangeClaim: "crucible-exchange",
};
/** A pod as the provider builds it, posted by hand. */
const handMadePod = (name: string, owner = SETTINGS.owner) =>
  sandboxPod(
    { ...SETTINGS, owner },
    {
      name,
      runId: name,
      image: `${REGISTRY}/crucible/base:missing`,
      argv: ["true"],
      env: {},
      resources: { cpus: 1, memoryBytes: 2 ** 28, timeoutSeconds: 10, gpus: 0 },
      policy,
    },
  );

/** The runner pod's environment as the committed values give it: fieldRefs filled with the pod's own, the exchange mount a local folder. */
async function runnerEnv(): Promise<Record<string, string>> {
  const values = parse(await readFile(path.join(repoRoot, "runner-setup/kubernetes/generated/values-crucible-cpu.yaml"), "utf8")) as Json;
  const fields: Record<string, string> = {
    "metadata.name": RUNNER.name,
    "metadata.uid": RUNNER.uid,
    "metadata.namespace": RUNNER.namespace,
  };
  const out: Record<string, string> = { ...fake.env };
  for (const e of values.template.spec.containers[0].env as Json[]) out[e.name] = e.value ?? fields[e.valueFrom.fieldRef.fieldPath];
  return { ...out, CRUCIBLE_SANDBOX_EXCHANGE: exchange };
}

beforeAll(async () => {
  policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  exchange = await mkdtemp(path.join(os.tmpdir(), "crucible-exchange-"));
  fake = await FakeKubernetes.start({
    claims: { "crucible-sandboxes/crucible-exchange": exchange },
    // What an operator pushed to the registry is the image built here (README, "Images").
    localImage: (ref) => ref.replace(`${REGISTRY}/`, ""),
  });
  fake.runnerPods.set(RUNNER.name, RUNNER.uid);
  env = await runnerEnv();
  provider = await kubernetesProviderFromEnv(policy, imagesDir, env, fake.accountDir);
});

afterAll(async () => {
  await fake?.close();
});

async function leftovers() {
  return { pods: [...fake.pods.keys()], containers: await fake.containersLeft(), exchange: await readdir(exchange) };
}

async function runProgram(
  name: string,
  program: string,
  options: { resources?: string; signal?: AbortSignal; onLine?: (line: RelayedLine) => void; provider?: KubernetesSandboxProvider } = {},
) {
  const file = await makeExperiment(name, {
    "experiment.yaml": experimentYaml(name, { resources: options.resources }),
    "main.py": program,
  });
  const experiment = await loadExperiment(file, { imagesDir });
  const lines: RelayedLine[] = [];
  const resultsRoot = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
  const outcome = await runExperiment({
    experiment,
    policy,
    provider: options.provider ?? provider,
    repoRoot: path.resolve(file, "../../.."),
    resultsRoot,
    ...(options.signal ? { signal: options.signal } : {}),
    events: {
      line: (line) => {
        lines.push(line);
        options.onLine?.(line);
      },
    },
  });
  return { ...outcome, lines };
}

describe("hello-sandbox through the Kubernetes provider", () => {
  it("runs in a gVisor pod created through the API, streams its output live and brings /output back", async () => {
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
    expect(result.policy).toMatchObject({ kind: "Pod", spec: { runtimeClassName: "gvisor", automountServiceAccountToken: false } });
    const seen = JSON.parse(await readFile(path.join(resultDir, "output/observations.json"), "utf8"));
    // The kernel the program sees is gVisor's Sentry, not the host's: the pod ran under the runtime class's handler.
    expect(seen.dmesg.value[0]).toContain("Starting gVisor");
    expect(seen.uid.value).toBe(65534);
    expect(seen.interfaces.value).toEqual(["lo"]);
    for (const probe of ["tcp_public", "tcp_metadata", "dns", "write_rootfs", "write_inputs", "write_output_parent"]) {
      expect(seen[probe], probe).toMatchObject({ ok: false });
    }
    expect(result.metrics).toEqual({ probes: 11, escapes_blocked: 5, steps: 5 });
    expect(result.artifacts.map((a) => a.path)).toEqual(["output/metrics.json", "output/observations.json"]);
    // pods/log serves stdout and stderr as one stream.
    expect(lines.map((l) => l.text)).toEqual(expect.arrayContaining(["hello from inside gVisor", "a line on stderr", "done"]));
    expect(lines.filter((l) => l.progress).map((l) => l.progressText)).toContain("progress 5/5 (100%)");
    expect(await readFile(path.join(resultDir, "log.txt"), "utf8")).toMatch(/^\[\+\d+\.\d{3}s stdout\] hello from inside gVisor$/m);

    const calls = fake.requests.map((r) => `${r.method} ${r.path}`);
    const pod = calls.find((c) => c.startsWith("POST /api/v1/namespaces/crucible-sandboxes/pods"));
    expect(pod).toBeDefined();
    expect(calls).toContain("GET /apis/node.k8s.io/v1/runtimeclasses/gvisor");
    expect(calls).toContain("GET /apis/networking.k8s.io/v1/namespaces/crucible-sandboxes/networkpolicies/deny-all");
    expect(fake.requests.some((r) => r.path.endsWith("/log") && r.query.follow === "true" && r.query.container === "experiment")).toBe(
      true,
    );
    expect(fake.violations).toEqual([]);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });

  it("builds the pod from the policy: gVisor class, no token, limits = requests = the experiment's, non-root, read-only root", async () => {
    const { result } = await runProgram("pod-spec", "print('ok')\n", { resources: "  cpus: 0.5\n  memory: 192Mi\n  timeout: 30s" });
    expect(result.status).toBe("succeeded");
    const pod = result.policy as Json;
    const spec = pod.spec;
    expect(spec.runtimeClassName).toBe("gvisor");
    expect([spec.automountServiceAccountToken, spec.enableServiceLinks, spec.serviceAccountName]).toEqual([
      false,
      false,
      "crucible-sandbox",
    ]);
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const [container] = spec.containers;
    expect(container.resources).toEqual({ requests: { cpu: "500m", memory: "192Mi" }, limits: { cpu: "500m", memory: "192Mi" } });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.command).toEqual([
      "prlimit",
      `--nproc=${policy.nproc}:${policy.nproc}`,
      `--nofile=${policy.nofile}:${policy.nofile}`,
      "--",
    ]);
    expect(spec.activeDeadlineSeconds).toBe(30 + 300);
    expect(pod.metadata.annotations["crucible.dev/owner"]).toBe(`${RUNNER.namespace}/${RUNNER.name}/${RUNNER.uid}`);
    // Environment values may be secrets: the result records names only.
    expect(container.env.every((e: Json) => e.value === "<redacted>")).toBe(true);
  });
});

describe("the crucible CLI on a runner pod", () => {
  // A private mount namespace stands in for the pod: /run is empty (no Docker socket) except for the
  // service-account folder where Kubernetes mounts it. Needs root, as the rest of this suite does.
  it("runs hello-sandbox through the API with no Docker socket in sight", async () => {
    const results = await mkdtemp(path.join(os.tmpdir(), "crucible-results-"));
    const script = [
      "mount -t tmpfs none /run",
      "mkdir -p /run/secrets/kubernetes.io/serviceaccount",
      'mount --bind "$ACCOUNT" /run/secrets/kubernetes.io/serviceaccount',
      'test ! -e /run/docker.sock && exec "$NODE" "$CLI" run experiments/hello-sandbox/experiment.yaml --results-dir "$RESULTS"',
    ].join(" && ");
    const { stdout } = await promisify(execFile)("unshare", ["--mount", "sh", "-c", script], {
      cwd: repoRoot,
      env: {
        ...{ PATH: process.env.PATH, HOME: os.tmpdir(), ...env },
        ...{
          CRUCIBLE_POLICY: path.join(repoRoot, "runner-setup/policy.json"),
          CRUCIBLE_ARTIFACT_STORE: await mkdtemp(path.join(os.tmpdir(), "store-")),
        },
        ...{ ACCOUNT: fake.accountDir, NODE: process.execPath, CLI: cliBin, RESULTS: results },
      },
    });
    expect(stdout).toMatch(/^\[\+\d+\.\d{3}s stdout\] hello from inside gVisor$/m);
    expect(stdout).toMatch(/probe dmesg: .*Starting gVisor/);
    expect(stdout).toMatch(/==> succeeded: The program exited with code 0\./);
    expect(stdout).toMatch(/behaviour: not monitored: .*Kubernetes sandbox pods/);
    const [runId] = await readdir(results);
    const result = JSON.parse(await readFile(path.join(results, runId!, "result.json"), "utf8"));
    expect(result).toMatchObject({
      status: "succeeded",
      runtime: { name: "runsc" },
      policy: { kind: "Pod", spec: { runtimeClassName: "gvisor" } },
    });
    expect(fake.violations).toEqual([]);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });
});

describe("how runs end on Kubernetes", () => {
  it("records a program that fails with its exit code and keeps its output", async () => {
    const { result } = await runProgram(
      "failing",
      "import sys\nprint('about to fail', flush=True)\nprint('on stderr', file=sys.stderr)\nsys.exit(3)\n",
    );
    expect(result).toMatchObject({ status: "failed", exitCode: 3, statusReason: "The program exited with code 3." });
    expect(result.log.tail.join("\n")).toMatch(/about to fail/);
    expect(result.log.tail.join("\n")).toMatch(/on stderr/);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });

  it("reports a container killed at its memory limit as oom-killed, from the pod status", async () => {
    const { result } = await runProgram(
      "memory-bomb",
      "x = []\nprint('allocating', flush=True)\nwhile True: x.append(bytearray(10**6))\n",
      {
        resources: "  cpus: 1\n  memory: 64Mi\n  timeout: 60s",
      },
    );
    expect(result.status).toBe("oom-killed");
    expect(result.statusReason).toContain("memory limit of 64 MiB");
    expect(result.log.tail.at(-1)).toMatch(/allocating$/);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });

  it("an image the nodes cannot pull is a sandbox error naming the image", async () => {
    const elsewhere = await kubernetesProviderFromEnv(
      policy,
      imagesDir,
      { ...env, CRUCIBLE_IMAGE_REGISTRY: "registry.elsewhere.internal" },
      fake.accountDir,
    );
    const { result } = await runProgram("unpullable", "print('never')\n", { provider: elsewhere });
    expect(result.status).toBe("sandbox-error");
    expect(result.statusReason).toMatch(/ErrImagePull.*registry\.elsewhere\.internal\/crucible\/base:/);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });

  it("deletes the pod at the time limit and records the run as timed out", async () => {
    const before = fake.requests.length;
    const { result } = await runProgram("sleeper", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n", {
      resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 10s",
    });
    expect(result.status).toBe("timed-out");
    expect(result.statusReason).toMatch(/deleted when the program reached its time limit of 10s/);
    expect(result.log.tail.join("\n")).toMatch(/sleeping/);
    const deletes = fake.requests.slice(before).filter((r) => r.method === "DELETE");
    expect(deletes[0]?.query).toEqual({ gracePeriodSeconds: "0" });
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });

  it("a cancel deletes the pod while the program runs; the line before it arrived live", async () => {
    const cancel = new AbortController();
    const { result, lines } = await runProgram(
      "cancelled",
      "import time\nprint('started', flush=True)\ntime.sleep(120)\nprint('never')\n",
      {
        signal: cancel.signal,
        // Cancelled on seeing the first line: it reached the runner while the program was still sleeping.
        onLine: (line) => line.text === "started" && cancel.abort(),
      },
    );
    expect(result.status).toBe("cancelled");
    expect(lines.map((l) => l.text)).toEqual(["started"]);
    expect(await leftovers()).toEqual({ pods: [], containers: 0, exchange: [] });
  });
});

describe("what the cluster and the runner refuse", () => {
  it("the API server refuses a sandbox pod without a runtime class, or one that breaks restricted Pod Security", async () => {
    const client = await KubernetesClient.inCluster(env, fake.accountDir);
    const pod = handMadePod("refused");
    const post = (body: Json) => client.request("/api/v1/namespaces/crucible-sandboxes/pods", { method: "POST", body });
    const noClass = structuredClone(pod);
    delete noClass.spec.runtimeClassName;
    await expect(post(noClass)).rejects.toThrow(/forbidden: the sandbox namespace admits only pods that name a runtime class/);
    const privileged = structuredClone(pod);
    privileged.spec.containers[0].securityContext.privileged = true;
    await expect(post(privileged)).rejects.toThrow(/violates PodSecurity "restricted:latest": experiment: privileged/);
    await expect(post({ ...pod, spec: { ...pod.spec, runtimeClassName: "runc" } })).rejects.toThrow(/RuntimeClass "runc" not found/);
    expect(fake.pods.size).toBe(0);
  });

  it("preflight refuses a cluster whose sandbox namespace lost its deny-all network policy", async () => {
    const key = "NetworkPolicy/crucible-sandboxes/deny-all";
    const denyAll = fake.objects.get(key)!;
    fake.objects.set(key, { ...denyAll, spec: { ...denyAll.spec, egress: [{}] } });
    try {
      const fresh = await kubernetesProviderFromEnv(policy, imagesDir, env, fake.accountDir);
      await expect(fresh.preflight()).rejects.toThrow(/deny-all of crucible-sandboxes does not deny all traffic/);
    } finally {
      fake.objects.set(key, denyAll);
    }
  });

  it("reclaims sandbox pods whose runner pod is gone, and leaves those of live runners", async () => {
    const client = await KubernetesClient.inCluster(env, fake.accountDir);
    const spec = (owner: { pod: string; uid: string }, name: string) => handMadePod(name, { namespace: RUNNER.namespace, ...owner });
    fake.runnerPods.set("live-runner", "live-uid");
    const post = (body: Json) => client.request("/api/v1/namespaces/crucible-sandboxes/pods", { method: "POST", body });
    const orphan = (await post(spec({ pod: "gone-runner", uid: "gone-uid" }, "orphan-run"))).metadata.name as string;
    const kept = (await post(spec({ pod: "live-runner", uid: "live-uid" }, "kept-run"))).metadata.name as string;
    const reclaimed = await provider.reclaim();
    expect(reclaimed).toEqual([{ id: orphan, runId: "orphan-run", reason: "its runner pod gone-runner is gone" }]);
    expect([...fake.pods.keys()]).toEqual([kept]);
    await client.request(`/api/v1/namespaces/crucible-sandboxes/pods/${kept}`, { method: "DELETE" });
    expect(existsSync(path.join(exchange, "orphan-run"))).toBe(false);
  });

  it("a runner pod without its service-account token gets a clear refusal, and so does a half-configured one", async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), "no-account-"));
    await expect(kubernetesProviderFromEnv(policy, imagesDir, env, empty)).rejects.toThrow(SandboxUnavailableError);
    await expect(kubernetesProviderFromEnv(policy, imagesDir, env, empty)).rejects.toThrow(
      new RegExp(`no service-account token at ${empty}/token .*automountServiceAccountToken`),
    );
    const partial = { ...env };
    delete partial.CRUCIBLE_SANDBOX_EXCHANGE;
    delete partial.CRUCIBLE_RUNNER_POD_UID;
    await expect(kubernetesProviderFromEnv(policy, imagesDir, partial, fake.accountDir)).rejects.toThrow(
      /CRUCIBLE_SANDBOX_EXCHANGE, CRUCIBLE_RUNNER_POD_UID are not/,
    );
  });

  it("assembleRun chooses the Kubernetes provider by the runner's environment, not Docker", async () => {
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    try {
      // The default service-account folder does not exist on this machine: the Kubernetes provider says so; Docker is never asked.
      await expect(
        assembleRun({
          root: repoRoot,
          experimentFile: path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"),
          policyFile: path.join(repoRoot, "runner-setup/policy.json"),
        }),
      ).rejects.toThrow(/no service-account token at \/var\/run\/secrets\/kubernetes.io\/serviceaccount\/token/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
