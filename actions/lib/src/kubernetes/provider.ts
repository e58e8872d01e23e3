// Sandboxes as pods under gVisor (runtime class gvisor, handler runsc), created by the run action on a
// runner pod through the Kubernetes API (runner-setup/kubernetes/README.md). Files go in and come out
// through the exchange volume: a folder per sandbox that the runner pod has mounted whole and the sandbox
// pod sees only its own three subfolders of.
import { access, chmod, copyFile, cp, mkdir, rm } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { readRecipe } from "../docker/image.js";
import { PolicyRejectedError, SandboxStartError, SandboxUnavailableError, errorMessage } from "../errors.js";
import type { ImageRequest } from "../image-source.js";
import type { SandboxPolicy, SandboxSpec } from "../policy.js";
import { cancelledBeforeStart, ended, MANAGED_LABEL, RUN_ID_LABEL } from "../sandbox/sandbox.js";
import type {
  ExecOptions,
  ExecResult,
  ImageRef,
  ReclaimedSandbox,
  RuntimeInfo,
  Sandbox,
  SandboxProvider,
  SandboxStop,
} from "../sandbox/sandbox.js";
import { KubernetesApiError, KubernetesClient, SERVICE_ACCOUNT_DIR, type KubernetesObject } from "./client.js";
import { EXCHANGE_FOLDERS, EXPERIMENT_CONTAINER, SANDBOX_OWNER_ANNOTATION, sandboxPod, type SandboxPodSettings } from "./pod.js";
import { delay } from "../delay.js";

/** The runner pod's environment that selects and configures this provider (the scale set's values set it). */
export const KUBERNETES_ENV = {
  namespace: "CRUCIBLE_SANDBOX_NAMESPACE",
  runtimeClass: "CRUCIBLE_SANDBOX_RUNTIME_CLASS",
  gpuRuntimeClass: "CRUCIBLE_SANDBOX_GPU_RUNTIME_CLASS",
  registry: "CRUCIBLE_IMAGE_REGISTRY",
  exchange: "CRUCIBLE_SANDBOX_EXCHANGE",
  exchangeClaim: "CRUCIBLE_SANDBOX_EXCHANGE_CLAIM",
  runnerNamespace: "CRUCIBLE_RUNNER_NAMESPACE",
  runnerPod: "CRUCIBLE_RUNNER_POD",
  runnerPodUid: "CRUCIBLE_RUNNER_POD_UID",
} as const;

/** Whether this runner is configured to run sandboxes as pods: its environment, never the experiment, decides. */
export function kubernetesConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env[KUBERNETES_ENV.namespace];
}

const GPU_RESOURCE = "nvidia.com/gpu";
const POLL_MS = 500;
/** How exec ends a sandbox early, as its reasons say: the pod is deleted. */
const POD_DELETED: SandboxStop = { sandbox: "sandbox pod", stopped: "deleted" };
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Container states in which the node will not start the program: reported as a start failure. */
const START_FAILURES = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

export interface KubernetesProviderOptions {
  client: KubernetesClient;
  settings: SandboxPodSettings;
  /** Registry the nodes pull sandbox images from: <registry>/crucible/<name>:<recipe hash>. */
  registry: string;
  /** The exchange volume as mounted in the runner pod. */
  exchangeDir: string;
  policy: SandboxPolicy;
  imagesDir: string;
}

/** The provider configured by the runner pod's environment; every missing setting is named. */
export async function kubernetesProviderFromEnv(
  policy: SandboxPolicy,
  imagesDir: string,
  env: NodeJS.ProcessEnv = process.env,
  accountDir = SERVICE_ACCOUNT_DIR,
): Promise<KubernetesSandboxProvider> {
  const missing = Object.entries(KUBERNETES_ENV)
    .filter(([key, name]) => key !== "gpuRuntimeClass" && !env[name])
    .map(([, name]) => name);
  if (missing.length > 0) {
    throw new SandboxUnavailableError(
      `${KUBERNETES_ENV.namespace} is set, so sandboxes run as pods, but ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not: ` +
        "the runner pod template of runner-setup/kubernetes/generated/values-*.yaml sets them",
    );
  }
  const value = (key: keyof typeof KUBERNETES_ENV) => env[KUBERNETES_ENV[key]]!;
  const client = await KubernetesClient.inCluster(env, accountDir);
  return new KubernetesSandboxProvider({
    client,
    settings: {
      namespace: value("namespace"),
      runtimeClass: value("runtimeClass"),
      gpuRuntimeClass: env[KUBERNETES_ENV.gpuRuntimeClass] || value("runtimeClass"),
      gpuResource: GPU_RESOURCE,
      owner: { namespace: value("runnerNamespace"), pod: value("runnerPod"), uid: value("runnerPodUid") },
      exchangeClaim: value("exchangeClaim"),
    },
    registry: value("registry"),
    exchangeDir: value("exchange"),
    policy,
    imagesDir,
  });
}

export class KubernetesSandboxProvider implements SandboxProvider {
  readonly name = "kubernetes";
  private runtimeInfo: RuntimeInfo | undefined;

  constructor(private readonly options: KubernetesProviderOptions) {}

  private get ns(): string {
    return this.options.settings.namespace;
  }

  /**
   * What the README's design promises before anything runs: the runtime class with the policy's runtime as
   * its handler, the namespace enforcing restricted Pod Security, its deny-all network policy, the exchange volume.
   */
  async preflight(): Promise<RuntimeInfo> {
    if (this.runtimeInfo) return this.runtimeInfo;
    const { client, settings, policy, exchangeDir } = this.options;
    const fetch = async (what: string, apiPath: string): Promise<KubernetesObject> => {
      try {
        return await client.request(apiPath);
      } catch (error) {
        const status = error instanceof KubernetesApiError ? error.status : 0;
        const why =
          status === 404 ? "does not exist" : status === 401 || status === 403 ? "cannot be read with this pod's token" : "cannot be read";
        throw new SandboxUnavailableError(
          `${what} ${why} (${errorMessage(error)}): apply runner-setup/kubernetes/generated/ first; refusing to run without it`,
        );
      }
    };
    const runtimeClass = await fetch(
      `the runtime class ${settings.runtimeClass}`,
      `/apis/node.k8s.io/v1/runtimeclasses/${settings.runtimeClass}`,
    );
    if (runtimeClass.handler !== policy.runtime) {
      throw new SandboxUnavailableError(
        `the runtime class ${settings.runtimeClass} has the handler "${String(runtimeClass.handler)}", ` +
          `not the policy's runtime "${policy.runtime}"; refusing to run outside gVisor`,
      );
    }
    const namespace = await fetch(`the sandbox namespace ${this.ns}`, `/api/v1/namespaces/${this.ns}`);
    if (namespace.metadata?.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") {
      throw new SandboxUnavailableError(
        `the sandbox namespace ${this.ns} does not enforce the restricted Pod Security Standard (label pod-security.kubernetes.io/enforce)`,
      );
    }
    const denyAll = await fetch(
      `the network policy deny-all of ${this.ns}`,
      `/apis/networking.k8s.io/v1/namespaces/${this.ns}/networkpolicies/deny-all`,
    );
    const spec = denyAll.spec ?? {};
    const selectsAll = Object.keys(spec.podSelector ?? { none: true }).length === 0;
    const types: string[] = spec.policyTypes ?? [];
    if (!selectsAll || !types.includes("Ingress") || !types.includes("Egress") || spec.ingress?.length || spec.egress?.length) {
      throw new SandboxUnavailableError(
        `the network policy deny-all of ${this.ns} does not deny all traffic of every pod (podSelector {}, Ingress and Egress, no rules)`,
      );
    }
    await access(exchangeDir, constants.W_OK).catch((error: unknown) => {
      throw new SandboxUnavailableError(
        `the exchange volume ${exchangeDir} is not writable here (${errorMessage(error)}); see runner-setup/kubernetes/README.md`,
      );
    });
    // The version of runsc on the nodes is not visible through the API.
    this.runtimeInfo = { name: runtimeClass.handler as string, version: "unknown" };
    return this.runtimeInfo;
  }

  async prepareImage(image: string | Omit<ImageRequest, "imagesDir">): Promise<ImageRef> {
    await this.preflight();
    if (typeof image !== "string") {
      throw new PolicyRejectedError(
        "images an experiment brings (a Dockerfile or a registry reference) are not supported on Kubernetes runners yet: " +
          "use a recipe image, or a host runner",
      );
    }
    const { hash } = await readRecipe(this.options.imagesDir, image);
    // Nodes pull it; a missing image ends as ErrImagePull, reported as a start failure naming it.
    const ref = `${this.options.registry}/crucible/${image}:${hash}`;
    return { name: image, ref, id: ref, recipeHash: hash };
  }

  /** Deletes every sandbox pod whose owner runner pod is gone (or is another pod of the same name), with its exchange folder. */
  async reclaim(): Promise<ReclaimedSandbox[]> {
    const { client, settings } = this.options;
    const list = await client.request(`/api/v1/namespaces/${this.ns}/pods`, { query: { labelSelector: `${MANAGED_LABEL}=true` } });
    const reclaimed: ReclaimedSandbox[] = [];
    for (const pod of (list.items ?? []) as KubernetesObject[]) {
      const [ownerNamespace, ownerPod, ownerUid] = String(pod.metadata?.annotations?.[SANDBOX_OWNER_ANNOTATION] ?? "").split("/");
      // Only names Kubernetes could have given reach a request path.
      if (!ownerNamespace || !ownerPod || !ownerUid || !DNS_NAME.test(ownerNamespace) || !DNS_NAME.test(ownerPod)) continue;
      if (ownerUid === settings.owner.uid) continue;
      let reason: string | undefined;
      try {
        const owner = await client.request(`/api/v1/namespaces/${ownerNamespace}/pods/${ownerPod}`);
        if (owner.metadata?.uid !== ownerUid) reason = `its runner pod ${ownerPod} was replaced`;
      } catch (error) {
        if (!(error instanceof KubernetesApiError && error.status === 404)) throw error;
        reason = `its runner pod ${ownerPod} is gone`;
      }
      if (!reason) continue;
      await deletePod(client, this.ns, pod.metadata.name as string);
      const folder = exchangeFolderOf(pod);
      if (folder) await rm(path.join(this.options.exchangeDir, folder), { recursive: true, force: true });
      reclaimed.push({ id: pod.metadata.name as string, runId: pod.metadata.labels?.[RUN_ID_LABEL] ?? "", reason });
    }
    return reclaimed;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const runtime = await this.preflight();
    const folder = path.join(this.options.exchangeDir, spec.name);
    await rm(folder, { recursive: true, force: true });
    const [experiment, artifacts, output] = EXCHANGE_FOLDERS.map((f) => path.join(folder, f.folder)) as [string, string, string];
    for (const dir of [experiment, artifacts, output]) await mkdir(dir, { recursive: true, mode: 0o755 });
    // Copies, not mounts: the sandbox never sees the checkout or the artifact store, only these.
    for (const input of spec.inputs) await cp(input.hostPath, path.join(experiment, input.relative), { recursive: true });
    for (const artifact of spec.artifacts) {
      const target = path.join(artifacts, artifact.stage, artifact.path);
      await mkdir(path.dirname(target), { recursive: true });
      await copyFile(artifact.hostPath, target);
    }
    // The program runs as the policy's unprivileged uid, which must be able to write here.
    await chmod(output, 0o777);
    return new KubernetesSandbox(this.options, spec, runtime, folder, output);
  }
}

/** The exchange folder a sandbox pod mounts (the first part of its subPaths), if it has the shape sandboxPod gives. */
function exchangeFolderOf(pod: KubernetesObject): string | undefined {
  const mounts: KubernetesObject[] = pod.spec?.containers?.[0]?.volumeMounts ?? [];
  const subPath = mounts.find((m) => m.name === "exchange")?.subPath;
  const folder = typeof subPath === "string" ? subPath.split("/")[0] : undefined;
  return folder && /^[\w.-]+$/.test(folder) && folder !== "." && folder !== ".." ? folder : undefined;
}

async function deletePod(client: KubernetesClient, namespace: string, name: string): Promise<void> {
  try {
    await client.request(`/api/v1/namespaces/${namespace}/pods/${name}`, { method: "DELETE", query: { gracePeriodSeconds: "0" } });
  } catch (error) {
    if (!(error instanceof KubernetesApiError && error.status === 404)) throw error;
  }
}

class KubernetesSandbox implements Sandbox {
  readonly outputSizeLimited = false;
  private readonly pods: string[] = [];

  constructor(
    private readonly options: KubernetesProviderOptions,
    private readonly spec: SandboxSpec,
    readonly runtime: RuntimeInfo,
    private readonly folder: string,
    readonly outputDir: string,
  ) {}

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const { client, settings } = this.options;
    const ns = settings.namespace;
    const timeoutSeconds = Math.ceil((options.timeoutMs ?? this.spec.resources.timeoutSeconds * 1000) / 1000);
    const pod = sandboxPod(settings, {
      name: this.spec.name,
      runId: this.spec.labels[RUN_ID_LABEL] ?? this.spec.name,
      image: this.spec.image,
      argv,
      env: this.spec.env,
      resources: { ...this.spec.resources, timeoutSeconds },
      policy: this.spec.policy,
    });
    const appliedConfig = redactedPod(pod);
    if (options.signal?.aborted) return cancelledBeforeStart(appliedConfig);
    let name: string;
    try {
      name = (await client.request(`/api/v1/namespaces/${ns}/pods`, { method: "POST", body: pod })).metadata.name as string;
    } catch (error) {
      throw new SandboxStartError(`the Kubernetes API refused the sandbox pod: ${errorMessage(error)}`);
    }
    this.pods.push(name);
    options.onCreated?.(name);
    const podPath = `/api/v1/namespaces/${ns}/pods/${name}`;

    let killedFor: "timed-out" | "cancelled" | undefined;
    let deleted: Promise<void> | undefined;
    const kill = (reason: "timed-out" | "cancelled") => {
      killedFor ??= reason;
      // cleanup() deletes again if this one failed.
      deleted ??= deletePod(client, ns, name).catch(() => undefined);
    };
    const timer = options.timeoutMs ? setTimeout(() => kill("timed-out"), options.timeoutMs) : undefined;
    const onAbort = () => kill("cancelled");
    options.signal?.addEventListener("abort", onAbort);
    const logs = new AbortController();
    let logEnded: Promise<void> | undefined;
    let terminated: KubernetesObject | undefined;
    let deadlineExceeded = false;
    try {
      while (!killedFor && !terminated && !deadlineExceeded) {
        let current: KubernetesObject;
        try {
          current = await client.request(podPath);
        } catch (error) {
          if (killedFor) break;
          throw new SandboxStartError(`the sandbox pod ${name} could not be read: ${errorMessage(error)}`);
        }
        const status = (current.status?.containerStatuses ?? []).find((c: KubernetesObject) => c.name === EXPERIMENT_CONTAINER);
        const waiting = status?.state?.waiting;
        if (waiting && START_FAILURES.has(waiting.reason)) {
          throw new SandboxStartError(
            `the node could not start the sandbox (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}); ` +
              `image ${this.spec.image}`,
          );
        }
        if ((status?.state?.running || status?.state?.terminated) && !logEnded) {
          // Live output from the program's first line: stdout and stderr arrive as one stream.
          logEnded = client
            .stream(`${podPath}/log`, (chunk) => options.onOutput?.("stdout", chunk), {
              query: { container: EXPERIMENT_CONTAINER, follow: "true" },
              signal: logs.signal,
            })
            .catch(() => undefined);
        }
        terminated = status?.state?.terminated;
        deadlineExceeded = current.status?.phase === "Failed" && current.status?.reason === "DeadlineExceeded";
        if (!terminated && !deadlineExceeded) await delay(POLL_MS);
      }
      // What the result says happened (the pod deleted) has happened before it is returned.
      await deleted;
      // The log can trail the exit; give it a moment to drain.
      if (logEnded) await Promise.race([logEnded, delay(5_000)]);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      logs.abort();
    }

    const ran = { appliedConfig, sandboxId: name };
    if (killedFor === "timed-out" || deadlineExceeded) return ended({ outcome: "timed-out", timeoutSeconds }, POD_DELETED, ran);
    if (killedFor === "cancelled") return ended({ outcome: "cancelled" }, POD_DELETED, ran);
    if (terminated?.reason === "OOMKilled")
      return ended({ outcome: "oom-killed", memoryBytes: this.spec.resources.memoryBytes }, POD_DELETED, ran);
    return ended({ outcome: "exited", exitCode: Number(terminated?.exitCode) }, POD_DELETED, ran);
  }

  async cleanup(): Promise<void> {
    for (const name of this.pods.splice(0)) await deletePod(this.options.client, this.options.settings.namespace, name);
    await rm(this.folder, { recursive: true, force: true });
  }
}

/** The pod as recorded in results: environment values are left out because they may hold secrets. */
function redactedPod(pod: KubernetesObject): Record<string, unknown> {
  const [container, ...rest] = pod.spec.containers as KubernetesObject[];
  const env = (container!.env as { name: string }[]).map((e) => ({ name: e.name, value: "<redacted>" }));
  return { ...pod, spec: { ...pod.spec, containers: [{ ...container, env }, ...rest] } };
}
