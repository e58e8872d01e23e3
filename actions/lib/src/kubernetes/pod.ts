// The sandbox pod: every setting of the Docker sandbox (docker/host-config.ts), carried by a pod field
// (runner-setup/kubernetes/README.md, "Which pod field carries each policy setting"). The one place that
// builds it: the Kubernetes provider creates it and runner-setup/kubernetes/render.mjs renders it into the
// committed manifests (it bundles this file with esbuild), so the two cannot drift.
import type { Resources } from "../experiment.js";
import type { SandboxPolicy } from "../policy.js";
import { MANAGED_LABEL, RUN_ID_LABEL } from "../sandbox/sandbox.js";

/** The runner's side of a sandbox pod: where it goes and what it may use (the scale set's values set these). */
export interface SandboxPodSettings {
  namespace: string;
  /** The runtime class of gVisor (handler runsc); GPU pods use gpuRuntimeClass (handler runsc-nvproxy). */
  runtimeClass: string;
  gpuRuntimeClass: string;
  gpuResource: string;
  /** The runner pod that owns the sandbox: reclaim() deletes sandboxes whose owner is gone. */
  owner: { namespace: string; pod: string; uid: string };
  /** The claim of the exchange volume, in the sandbox namespace (README, "How files go in and out"). */
  exchangeClaim: string;
}

/** One program in one sandbox. */
export interface SandboxPodRequest {
  /** The sandbox's folder on the exchange volume (<run id>[-<stage>]): inputs, artifacts and output live under it. */
  name: string;
  runId: string;
  image: string;
  argv: string[];
  env: Record<string, string>;
  resources: Pick<Resources, "cpus" | "memoryBytes" | "timeoutSeconds" | "gpus">;
  policy: Pick<SandboxPolicy, "user" | "nproc" | "nofile" | "tmpBytes" | "shmBytes">;
}

export const SANDBOX_POD_LABELS = { "app.kubernetes.io/name": "crucible-sandbox", "app.kubernetes.io/part-of": "crucible" };
export const SANDBOX_OWNER_ANNOTATION = "crucible.dev/owner";
export const SANDBOX_SERVICE_ACCOUNT = "crucible-sandbox";
export const EXPERIMENT_CONTAINER = "experiment";
/** Time a pod outlives its program's limit on the node: the runner's own timer deletes it first. */
export const NODE_DEADLINE_GRACE_SECONDS = 300;
/** The exchange volume's folders of one sandbox, and where the program sees each. */
export const EXCHANGE_FOLDERS = [
  { folder: "experiment", mountPath: "/experiment", readOnly: true },
  { folder: "artifacts", mountPath: "/artifacts", readOnly: true },
  { folder: "output", mountPath: "/output", readOnly: false },
] as const;

/** A Kubernetes quantity for a byte count: Gi or Mi when exact, bytes otherwise. */
export function byteQuantity(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30}Gi`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20}Mi`;
  return String(bytes);
}

/** A Kubernetes quantity for CPUs: whole cores, else millicores. */
export function cpuQuantity(cpus: number): string {
  const millis = Math.round(cpus * 1000);
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

// A Kubernetes object as the API takes it; the tests validate it against Kubernetes' schemas.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type KubernetesObject = Record<string, any>;

export function sandboxPod(settings: SandboxPodSettings, request: SandboxPodRequest): KubernetesObject {
  const { policy, resources } = request;
  const [uid, gid] = policy.user.split(":").map(Number);
  const gpus = resources.gpus;
  const amount = {
    cpu: cpuQuantity(resources.cpus),
    memory: byteQuantity(resources.memoryBytes),
    ...(gpus > 0 ? { [settings.gpuResource]: String(gpus) } : {}),
  };
  const restricted = {
    ...{ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, privileged: false, runAsNonRoot: true },
    readOnlyRootFilesystem: true,
  };
  const { owner } = settings;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "crucible-sandbox-",
      namespace: settings.namespace,
      labels: { ...SANDBOX_POD_LABELS, [MANAGED_LABEL]: "true", [RUN_ID_LABEL]: request.runId },
      annotations: { [SANDBOX_OWNER_ANNOTATION]: `${owner.namespace}/${owner.pod}/${owner.uid}` },
    },
    spec: {
      runtimeClassName: gpus > 0 ? settings.gpuRuntimeClass : settings.runtimeClass,
      restartPolicy: "Never",
      activeDeadlineSeconds: resources.timeoutSeconds + NODE_DEADLINE_GRACE_SECONDS,
      terminationGracePeriodSeconds: 0,
      serviceAccountName: SANDBOX_SERVICE_ACCOUNT,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostname: "sandbox",
      dnsPolicy: "None",
      dnsConfig: { nameservers: ["127.0.0.1"] },
      securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: EXPERIMENT_CONTAINER,
          image: request.image,
          // Kubernetes has no per-pod rlimits: the image's prlimit (util-linux) sets them, then runs the program.
          command: ["prlimit", `--nproc=${policy.nproc}:${policy.nproc}`, `--nofile=${policy.nofile}:${policy.nofile}`, "--"],
          args: request.argv,
          workingDir: "/experiment",
          env: Object.entries(request.env).map(([name, value]) => ({ name, value })),
          resources: { requests: amount, limits: amount },
          securityContext: restricted,
          volumeMounts: [
            // One folder each of this sandbox's own part of the exchange volume, never the volume itself.
            ...EXCHANGE_FOLDERS.map((f) => ({
              name: "exchange",
              mountPath: f.mountPath,
              subPath: `${request.name}/${f.folder}`,
              ...(f.readOnly ? { readOnly: true } : {}),
            })),
            { name: "tmp", mountPath: "/tmp" },
            { name: "shm", mountPath: "/dev/shm" },
          ],
        },
      ],
      volumes: [
        { name: "exchange", persistentVolumeClaim: { claimName: settings.exchangeClaim } },
        { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: byteQuantity(policy.tmpBytes) } },
        { name: "shm", emptyDir: { medium: "Memory", sizeLimit: byteQuantity(policy.shmBytes) } },
      ],
    },
  };
}
