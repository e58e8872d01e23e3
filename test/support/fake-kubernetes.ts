// A local stand-in for a Kubernetes API server (HTTPS on 127.0.0.1, bearer token, its own CA) with a
// mini-kubelet behind it, for the Kubernetes sandbox provider. It behaves, not only answers:
// - the cluster is what runner-setup/kubernetes/generated/ applies: its namespaces (with their Pod Security
//   labels), runtime classes and network policies are loaded from those files;
// - every body sent and every object returned is validated with kubernetes-models (Kubernetes' OpenAPI
//   schemas, compiled). No OpenAPI description of the *paths* is installable here (kubernetes-models carries
//   the definitions only), so paths and query parameters are checked against ROUTES, transcribed from the
//   API reference; anything else is answered 404 and recorded in `violations`;
// - admission: a pod is refused, as the API server would, when it violates the restricted Pod Security
//   Standard in a namespace that enforces it, names a runtime class that does not exist, or (the cluster's
//   policy for the sandbox namespace) names none;
// - each admitted pod's container runs for real with Docker under the runtime class's handler (runsc): the
//   pod's fields are translated one by one into a container (user, read-only root, capabilities, limits,
//   memory-backed emptyDirs, subPath mounts of the claim's folder), so what a test proves is gVisor;
//   status, logs (follow), delete and activeDeadlineSeconds behave as a kubelet's do.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import Docker from "dockerode";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "./repo.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes objects, read loosely on purpose
export type Json = Record<string, any>;

const execFileAsync = promisify(execFile);
const GENERATED = path.join(repoRoot, "runner-setup", "kubernetes", "generated");
/**
 * Label of every container the mini-kubelet starts; its value names the double that started it, so a test
 * counts its own leftovers and not those of another run on the same daemon (one killed mid-test, say).
 */
const FAKE_POD_LABEL = "crucible.test.fake-kubernetes";

/** The paths the double serves, with the query parameters the API reference lists for each. */
const ROUTES: { method: string; pattern: RegExp; query: string[]; name: string }[] = [
  { method: "GET", pattern: /^\/api\/v1\/namespaces\/([^/]+)$/, query: ["pretty"], name: "readNamespace" },
  { method: "GET", pattern: /^\/apis\/node\.k8s\.io\/v1\/runtimeclasses\/([^/]+)$/, query: ["pretty"], name: "readRuntimeClass" },
  {
    method: "GET",
    pattern: /^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/networkpolicies\/([^/]+)$/,
    query: ["pretty"],
    name: "readNamespacedNetworkPolicy",
  },
  {
    method: "POST",
    pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods$/,
    query: ["pretty", "dryRun", "fieldManager", "fieldValidation"],
    name: "createNamespacedPod",
  },
  {
    method: "GET",
    pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods$/,
    query: ["pretty", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion"],
    name: "listNamespacedPod",
  },
  { method: "GET", pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/, query: ["pretty"], name: "readNamespacedPod" },
  {
    method: "DELETE",
    pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/,
    query: ["pretty", "dryRun", "gracePeriodSeconds", "propagationPolicy"],
    name: "deleteNamespacedPod",
  },
  {
    method: "GET",
    pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/,
    query: ["pretty", "container", "follow", "limitBytes", "previous", "sinceSeconds", "tailLines", "timestamps"],
    name: "readNamespacedPodLog",
  },
];

const RESTRICTED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

/** What the "restricted" Pod Security Standard (and the baseline under it) refuses in a pod spec. */
export function restrictedViolations(spec: Json): string[] {
  const out: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push("host namespaces");
  for (const volume of spec.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== "name")!;
    if (!RESTRICTED_VOLUMES.includes(type)) out.push(`volume ${volume.name} of type ${type}`);
  }
  const pod = spec.securityContext ?? {};
  if (pod.runAsUser === 0) out.push("pod runs as uid 0");
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) out.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if (!(sc.runAsNonRoot ?? pod.runAsNonRoot)) out.push(`${c.name}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) out.push(`${c.name}: runs as uid 0`);
    const seccomp = (sc.seccompProfile ?? pod.seccompProfile)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${c.name}: seccompProfile is ${seccomp}`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`${c.name}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== "NET_BIND_SERVICE") out.push(`${c.name}: adds ${cap}`);
    for (const port of c.ports ?? []) if (port.hostPort) out.push(`${c.name}: hostPort`);
  }
  return out;
}

/** Validation errors of kubernetes-models for an object of the given kind (e.g. "v1/Pod"). */
async function schemaErrors(module: string, value: Json): Promise<string | undefined> {
  const specifier = `kubernetes-models/${module}`;
  const exported = (await import(specifier)) as Record<string, new (data: Json) => { validate(): void }>;
  const Model = exported[module.split("/").pop()!]!;
  try {
    new Model(value).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function status(code: number, reason: string, message: string): Json {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

const UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
function bytesOf(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!match) throw new Error(`quantity the double does not read: ${quantity}`);
  return Number(match[1]) * (match[2] ? UNITS[match[2]]! : 1);
}
const cpusOf = (quantity: string) => (quantity.endsWith("m") ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity));

interface FakePod {
  object: Json;
  containerId?: string;
  state: Json;
  phase: string;
  reason?: string;
  deadline?: NodeJS.Timeout;
}

export interface FakeKubernetesOptions {
  /** The runner pod's token; any other is refused with 401. */
  token?: string;
  /** Folder that backs each claim, by "namespace/claim": the NFS export of the exchange volume. */
  claims: Record<string, string>;
  /** Where a node finds an image it is told to pull (the registry push, done by an operator, is outside the test). */
  localImage: (ref: string) => string;
  /** The kubelet's podPidsLimit (README, "Nodes"). */
  podPidsLimit?: number;
}

export class FakeKubernetes {
  readonly token: string;
  /** Every request, in order: method, path and query. */
  readonly requests: { method: string; path: string; query: Record<string, string> }[] = [];
  /** Requests outside ROUTES and bodies or answers that fail the schemas: a test expects none. */
  readonly violations: string[] = [];
  /** Cluster objects by kind and name ("Namespace/crucible-sandboxes", "NetworkPolicy/crucible-sandboxes/deny-all"). */
  readonly objects = new Map<string, Json>();
  /** Runner pods by name, with their uid (the owners that reclaim() asks about). */
  readonly runnerPods = new Map<string, string>();
  readonly pods = new Map<string, FakePod>();
  readonly docker = new Docker();
  private readonly instance = randomUUID();
  private server!: Server;
  private dir!: string;
  url = "";

  private constructor(private readonly options: FakeKubernetesOptions) {
    this.token = options.token ?? randomBytes(16).toString("hex");
  }

  static async start(options: FakeKubernetesOptions): Promise<FakeKubernetes> {
    const fake = new FakeKubernetes(options);
    await fake.listen();
    return fake;
  }

  /** The runner pod's service-account folder (token, ca.crt) and its environment, as Kubernetes gives them. */
  get accountDir(): string {
    return path.join(this.dir, "serviceaccount");
  }

  get env(): Record<string, string> {
    const { port } = new URL(this.url);
    return { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port };
  }

  private async listen(): Promise<void> {
    this.dir = await mkdtemp(path.join(os.tmpdir(), "fake-kubernetes-"));
    const key = path.join(this.dir, "server.key");
    const cert = path.join(this.dir, "server.crt");
    // A self-signed certificate for 127.0.0.1 that is also the cluster CA the client must be given.
    await execFileAsync("openssl", [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1"],
      ...["-subj", "/CN=fake-kubernetes", "-addext", "subjectAltName=IP:127.0.0.1"],
    ]);
    await mkdir(this.accountDir);
    await writeFile(path.join(this.accountDir, "token"), this.token);
    await writeFile(path.join(this.accountDir, "ca.crt"), await readFile(cert));
    for (const file of ["namespaces.yaml", "runtime-classes.yaml", "network-policies.yaml"]) {
      for (const doc of parseAllDocuments(await readFile(path.join(GENERATED, file), "utf8"))) {
        const object = doc.toJS() as Json;
        const key = [object.kind, object.metadata.namespace, object.metadata.name].filter(Boolean).join("/");
        this.objects.set(key, { ...object, metadata: { ...object.metadata, uid: randomUUID(), creationTimestamp: now() } });
      }
    }
    this.server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
      this.handle(req, res).catch((error: Error) => this.send(res, 500, status(500, "InternalError", error.message)));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** How many containers this double's mini-kubelet started are still on the daemon. */
  async containersLeft(): Promise<number> {
    const left = await this.docker.listContainers({ all: true, filters: { label: [`${FAKE_POD_LABEL}=${this.instance}`] } });
    return left.length;
  }

  async close(): Promise<void> {
    for (const name of [...this.pods.keys()]) await this.removePod(name);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private send(res: ServerResponse, code: number, body: Json): void {
    if (res.headersSent) return void res.end();
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private async answer(res: ServerResponse, code: number, module: string, body: Json): Promise<void> {
    const problem = await schemaErrors(module, body);
    if (problem) this.violations.push(`answer ${module}: ${problem}`);
    this.send(res, code, body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? "", path: url.pathname, query });
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, status(401, "Unauthorized", "Unauthorized"));
    const route = ROUTES.find((r) => r.method === req.method && r.pattern.test(url.pathname));
    if (!route) {
      this.violations.push(`${req.method} ${url.pathname}: no such operation`);
      return this.send(res, 404, status(404, "NotFound", "the server could not find the requested resource"));
    }
    const unknown = Object.keys(query).filter((k) => !route.query.includes(k));
    if (unknown.length > 0) {
      this.violations.push(`${route.name}: unknown query parameters ${unknown.join(", ")}`);
      return this.send(res, 400, status(400, "BadRequest", `unknown query parameters ${unknown.join(", ")}`));
    }
    const [, first, second] = route.pattern.exec(url.pathname)!.map(decodeURIComponent);
    switch (route.name) {
      case "readNamespace":
        return this.readObject(res, "v1/Namespace", `Namespace/${first}`, `namespaces "${first}" not found`);
      case "readRuntimeClass":
        return this.readObject(
          res,
          "node.k8s.io/v1/RuntimeClass",
          `RuntimeClass/${first}`,
          `runtimeclasses.node.k8s.io "${first}" not found`,
        );
      case "readNamespacedNetworkPolicy":
        return this.readObject(
          res,
          "networking.k8s.io/v1/NetworkPolicy",
          `NetworkPolicy/${first}/${second}`,
          `networkpolicies.networking.k8s.io "${second}" not found`,
        );
      case "createNamespacedPod":
        return this.createPod(res, first!, JSON.parse(await readBody(req)) as Json);
      case "listNamespacedPod":
        return this.listPods(res, first!, query.labelSelector);
      case "readNamespacedPod":
        return this.readPod(res, first!, second!);
      case "deleteNamespacedPod":
        return this.deletePod(res, first!, second!);
      case "readNamespacedPodLog":
        return this.podLog(res, first!, second!, query);
    }
  }

  private readObject(res: ServerResponse, module: string, key: string, missing: string): Promise<void> | void {
    const object = this.objects.get(key);
    if (!object) return this.send(res, 404, status(404, "NotFound", missing));
    return this.answer(res, 200, module, object);
  }

  private podObject(pod: FakePod): Json {
    const container = pod.object.spec.containers[0];
    return {
      ...pod.object,
      status: {
        phase: pod.phase,
        ...(pod.reason ? { reason: pod.reason } : {}),
        containerStatuses: [
          { name: container.name, image: container.image, imageID: "", ready: "running" in pod.state, restartCount: 0, state: pod.state },
        ],
      },
    };
  }

  private async createPod(res: ServerResponse, namespace: string, body: Json): Promise<void> {
    const problem = await schemaErrors("v1/Pod", body);
    if (problem) {
      this.violations.push(`createNamespacedPod body: ${problem}`);
      return this.send(res, 422, status(422, "Invalid", `Pod is invalid: ${problem}`));
    }
    const ns = this.objects.get(`Namespace/${namespace}`);
    if (!ns) return this.send(res, 404, status(404, "NotFound", `namespaces "${namespace}" not found`));
    if (body.metadata?.namespace && body.metadata.namespace !== namespace) {
      return this.send(
        res,
        400,
        status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"),
      );
    }
    const name = body.metadata?.name ?? `${body.metadata?.generateName ?? ""}${randomBytes(3).toString("hex").slice(0, 5)}`;
    const forbidden = (message: string) => this.send(res, 403, status(403, "Forbidden", `pods "${name}" is forbidden: ${message}`));
    const spec = body.spec as Json;
    if (ns.metadata.labels?.["pod-security.kubernetes.io/enforce"] === "restricted") {
      const violations = restrictedViolations(spec);
      if (violations.length > 0) return forbidden(`violates PodSecurity "restricted:latest": ${violations.join(", ")}`);
    }
    if (namespace === "crucible-sandboxes" && !spec.runtimeClassName) {
      return forbidden("the sandbox namespace admits only pods that name a runtime class (gVisor)");
    }
    const runtimeClass = spec.runtimeClassName ? this.objects.get(`RuntimeClass/${spec.runtimeClassName}`) : undefined;
    if (spec.runtimeClassName && !runtimeClass) return forbidden(`pod rejected: RuntimeClass "${spec.runtimeClassName}" not found`);
    if (spec.containers.length !== 1 || spec.initContainers?.length) {
      return this.send(res, 501, status(501, "NotImplemented", "the mini-kubelet runs pods of one container"));
    }
    const object = {
      ...body,
      metadata: { ...body.metadata, name, namespace, uid: randomUUID(), creationTimestamp: now(), resourceVersion: "1" },
    };
    const pod: FakePod = { object, phase: "Pending", state: { waiting: { reason: "ContainerCreating" } } };
    this.pods.set(name, pod);
    await this.answer(res, 201, "v1/Pod", this.podObject(pod));
    void this.runPod(pod, runtimeClass?.handler ?? "runc");
  }

  /** The kubelet's part: the pod's fields, translated one by one into a container under the runtime class's handler. */
  private async runPod(pod: FakePod, runtime: string): Promise<void> {
    const spec = pod.object.spec as Json;
    const container = spec.containers[0] as Json;
    const sc = { ...spec.securityContext, ...container.securityContext } as Json;
    const volumes = new Map<string, Json>((spec.volumes ?? []).map((v: Json) => [v.name, v]));
    const tmpfs: Record<string, string> = {};
    const mounts: Docker.MountSettings[] = [];
    let shmSize: number | undefined;
    for (const mount of container.volumeMounts ?? []) {
      const volume = volumes.get(mount.name)!;
      if (volume.emptyDir?.medium === "Memory") {
        const size = bytesOf(volume.emptyDir.sizeLimit);
        if (mount.mountPath === "/dev/shm") shmSize = size;
        else tmpfs[mount.mountPath] = `rw,nosuid,nodev,size=${size}`;
      } else if (volume.persistentVolumeClaim) {
        const root = this.options.claims[`${pod.object.metadata.namespace}/${volume.persistentVolumeClaim.claimName}`];
        const subPath = mount.subPath ?? "";
        if (!root || subPath.split("/").includes("..") || path.isAbsolute(subPath)) {
          pod.state = { waiting: { reason: "CreateContainerConfigError", message: `cannot mount ${mount.name} (${subPath})` } };
          return;
        }
        // The kubelet creates a missing subPath folder.
        await mkdir(path.join(root, subPath), { recursive: true });
        mounts.push({ Type: "bind", Source: path.join(root, subPath), Target: mount.mountPath, ReadOnly: mount.readOnly === true });
      } else {
        pod.state = { waiting: { reason: "CreateContainerConfigError", message: `the mini-kubelet does not mount ${mount.name}` } };
        return;
      }
    }
    const image = this.options.localImage(container.image);
    try {
      await this.docker.getImage(image).inspect();
    } catch {
      pod.state = { waiting: { reason: "ErrImagePull", message: `failed to pull and unpack image "${container.image}": not found` } };
      return;
    }
    const limits = container.resources?.limits ?? {};
    let created: Docker.Container;
    try {
      created = await this.docker.createContainer({
        Image: image,
        Entrypoint: container.command,
        Cmd: container.args ?? [],
        WorkingDir: container.workingDir,
        Env: (container.env ?? []).map((e: Json) => `${e.name}=${e.value}`),
        User: `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`,
        Hostname: spec.hostname,
        Labels: { [FAKE_POD_LABEL]: this.instance },
        NetworkDisabled: true,
        HostConfig: {
          Runtime: runtime,
          // runsc's own network = "none" (the handler's configuration), as on the nodes.
          NetworkMode: "none",
          ReadonlyRootfs: sc.readOnlyRootFilesystem === true,
          CapDrop: sc.capabilities?.drop ?? [],
          SecurityOpt: sc.allowPrivilegeEscalation === false ? ["no-new-privileges:true"] : [],
          Privileged: sc.privileged === true,
          PidsLimit: this.options.podPidsLimit ?? 4096,
          ...(limits.memory ? { Memory: bytesOf(limits.memory), MemorySwap: bytesOf(limits.memory) } : {}),
          ...(limits.cpu ? { NanoCpus: Math.round(cpusOf(limits.cpu) * 1e9) } : {}),
          Tmpfs: tmpfs,
          ...(shmSize ? { ShmSize: shmSize } : {}),
          Mounts: mounts,
          RestartPolicy: { Name: "no" },
        },
      });
    } catch (error) {
      pod.state = { waiting: { reason: "CreateContainerError", message: (error as Error).message } };
      return;
    }
    pod.containerId = created.id;
    if (!this.pods.has(pod.object.metadata.name)) return void created.remove({ force: true }).catch(() => undefined);
    const exited = created.wait({ condition: "next-exit" }) as Promise<{ StatusCode: number }>;
    try {
      await created.start();
    } catch (error) {
      pod.state = { waiting: { reason: "CreateContainerError", message: (error as Error).message } };
      return;
    }
    const startedAt = now();
    pod.state = { running: { startedAt } };
    pod.phase = "Running";
    if (spec.activeDeadlineSeconds) {
      pod.deadline = setTimeout(() => {
        pod.phase = "Failed";
        pod.reason = "DeadlineExceeded";
        created.kill().catch(() => undefined);
      }, spec.activeDeadlineSeconds * 1000);
    }
    const code = await exited.then((r) => r.StatusCode).catch(() => undefined);
    clearTimeout(pod.deadline);
    if (code === undefined) return;
    const inspected = await created.inspect().catch(() => undefined);
    const reason = inspected?.State.OOMKilled ? "OOMKilled" : code === 0 ? "Completed" : "Error";
    pod.state = { terminated: { exitCode: code, reason, startedAt, finishedAt: now() } };
    if (pod.reason !== "DeadlineExceeded") pod.phase = code === 0 ? "Succeeded" : "Failed";
  }

  private listPods(res: ServerResponse, namespace: string, selector: string | undefined): Promise<void> {
    const wanted = (selector ?? "")
      .split(",")
      .filter(Boolean)
      .map((term) => term.split("=") as [string, string]);
    const items = [...this.pods.values()]
      .filter((p) => p.object.metadata.namespace === namespace)
      .filter((p) => wanted.every(([k, v]) => p.object.metadata.labels?.[k] === v))
      .map((p) => this.podObject(p));
    return this.answer(res, 200, "v1/PodList", { apiVersion: "v1", kind: "PodList", metadata: { resourceVersion: "1" }, items });
  }

  private readPod(res: ServerResponse, namespace: string, name: string): Promise<void> | void {
    const pod = this.pods.get(name);
    if (pod && pod.object.metadata.namespace === namespace) return this.answer(res, 200, "v1/Pod", this.podObject(pod));
    const runnerUid = this.runnerPods.get(name);
    if (runnerUid && namespace === "crucible-runners") {
      const runner = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace, uid: runnerUid },
        spec: { containers: [{ name: "runner" }] },
      };
      return this.answer(res, 200, "v1/Pod", runner);
    }
    this.send(res, 404, status(404, "NotFound", `pods "${name}" not found`));
  }

  private async deletePod(res: ServerResponse, namespace: string, name: string): Promise<void> {
    const pod = this.pods.get(name);
    if (!pod || pod.object.metadata.namespace !== namespace)
      return this.send(res, 404, status(404, "NotFound", `pods "${name}" not found`));
    const answer = this.podObject(pod);
    await this.removePod(name);
    return this.answer(res, 200, "v1/Pod", answer);
  }

  private async removePod(name: string): Promise<void> {
    const pod = this.pods.get(name);
    this.pods.delete(name);
    clearTimeout(pod?.deadline);
    if (pod?.containerId)
      await this.docker
        .getContainer(pod.containerId)
        .remove({ force: true })
        .catch(() => undefined);
  }

  private async podLog(res: ServerResponse, namespace: string, name: string, query: Record<string, string>): Promise<void> {
    const pod = this.pods.get(name);
    if (!pod || pod.object.metadata.namespace !== namespace)
      return this.send(res, 404, status(404, "NotFound", `pods "${name}" not found`));
    const container = pod.object.spec.containers[0].name as string;
    if (query.container && query.container !== container) {
      return this.send(res, 400, status(400, "BadRequest", `container ${query.container} is not valid for pod ${name}`));
    }
    if (!pod.containerId || "waiting" in pod.state) {
      return this.send(
        res,
        400,
        status(400, "BadRequest", `container "${container}" in pod "${name}" is waiting to start: ${pod.state.waiting?.reason}`),
      );
    }
    const follow = query.follow === "true";
    const docker = this.docker.getContainer(pod.containerId);
    res.writeHead(200, { "content-type": "text/plain" });
    // One stream, as the kubelet serves it: stdout and stderr interleaved.
    const merged = new PassThrough();
    merged.pipe(res);
    const stream = follow
      ? ((await docker.logs({ stdout: true, stderr: true, follow: true })) as NodeJS.ReadableStream)
      : bufferStream((await docker.logs({ stdout: true, stderr: true, follow: false })) as Buffer);
    docker.modem.demuxStream(stream, merged, merged);
    const end = () => merged.end();
    stream.on("end", end);
    stream.on("close", end);
    stream.on("error", end);
    res.on("close", () => (stream as unknown as { destroy(): void }).destroy());
  }
}

function bufferStream(buffer: Buffer): NodeJS.ReadableStream {
  const stream = new PassThrough();
  stream.end(buffer);
  return stream;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}
