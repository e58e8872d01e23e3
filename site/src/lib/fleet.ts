// The runner fleet as the fleet page draws it, read at build time from the committed sources: the
// operator's runner-setup/kubernetes/fleet.json, the runner policies, and the manifests render.mjs
// generated from them (which the Kubernetes test keeps equal to what the sources give). Nothing here is
// copied by hand: a changed source changes the page.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { siteCheckoutRoot } from "./paths";

export interface ScaleSet {
  name: string;
  gpu: boolean;
  minRunners: number;
  maxRunners: number;
  labels: string[];
  runnerGroup: string;
  runnerImage: string;
  runnerUid: number;
  /** The runtime class its sandbox pods get, and that class's runsc handler and node selector. */
  runtimeClass: string;
  handler: string;
  nodeSelector: string;
  overhead: string;
  policy: FleetPolicy;
}

export interface FleetPolicy {
  file: string;
  runtime: string;
  maxConcurrentSandboxes: number;
  maxCpus: number;
  maxMemory: string;
  maxGpus: number;
  maxTimeout: string;
  user: string;
}

export interface Fleet {
  githubUrl: string;
  runnerGroup: string;
  /** Host runners register with these labels (jit-runner.mjs; the scale sets' values are rendered from them). */
  hostLabels: string[];
  hostPolicy: FleetPolicy;
  runnersNamespace: string;
  sandboxesNamespace: string;
  podSecurity: string;
  scaleSets: ScaleSet[];
  /** NetworkPolicies per namespace, by name. */
  networkPolicies: { namespace: string; name: string }[];
  /** The sandbox pod as the design creates it (generated/sandbox-pod-*.yaml of the CPU scale set). */
  sandboxPod: {
    automountToken: boolean;
    readOnlyRoot: boolean;
    runAsUser: number | undefined;
    privilegeEscalation: boolean;
    capabilitiesDropped: string[];
  };
  /** ResourceQuota of the sandbox namespace: pods and the CPU and memory limits all sandboxes share. */
  sandboxQuota: Record<string, string>;
  /** The files the page was drawn from, relative to the repository. */
  sources: string[];
}

type Doc = Record<string, unknown> & { kind?: string; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };

const KUBERNETES = "runner-setup/kubernetes";

let loaded: Promise<Fleet> | undefined;

/** The fleet, read once per build; a missing or malformed source stops the build naming the file. */
export function loadFleet(): Promise<Fleet> {
  loaded ??= readFleet();
  return loaded;
}

async function readFleet(): Promise<Fleet> {
  const sources: string[] = [];
  const read = async (file: string) => {
    sources.push(file);
    try {
      return await readFile(join(siteCheckoutRoot, file), "utf8");
    } catch (error) {
      throw new Error(`the fleet page needs ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = async (file: string) => JSON.parse(await read(file)) as Record<string, any>;
  const yamlDocs = async (file: string): Promise<Doc[]> => {
    const docs = parseAllDocuments(await read(file));
    for (const doc of docs) if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return docs.map((doc) => doc.toJS() as Doc).filter(Boolean);
  };
  const need = <T>(value: T | undefined, file: string, what: string): T => {
    if (value === undefined || value === null) throw new Error(`${file}: the fleet page needs ${what}`);
    return value;
  };

  const fleetFile = `${KUBERNETES}/fleet.json`;
  const fleet = await json(fleetFile);
  const policyOf = async (name: string): Promise<FleetPolicy> => {
    const file = `runner-setup/${name}`;
    const policy = await json(file);
    return {
      file,
      runtime: need(policy.gpu?.runtime ?? policy.runtime, file, "runtime"),
      maxConcurrentSandboxes: need(policy.limits?.maxConcurrentSandboxes, file, "limits.maxConcurrentSandboxes"),
      maxCpus: need(policy.limits?.maxCpus, file, "limits.maxCpus"),
      maxMemory: need(policy.limits?.maxMemory, file, "limits.maxMemory"),
      maxGpus: policy.limits?.maxGpus ?? 0,
      maxTimeout: need(policy.limits?.maxTimeout, file, "limits.maxTimeout"),
      user: need(policy.sandbox?.user, file, "sandbox.user"),
    };
  };
  const runtimeClasses = await yamlDocs(`${KUBERNETES}/generated/runtime-classes.yaml`);
  const scaleSets: ScaleSet[] = [];
  for (const set of fleet.scaleSets as { name: string; policy: string; gpu: boolean }[]) {
    const valuesFile = `${KUBERNETES}/generated/values-${set.name}.yaml`;
    const [values] = await yamlDocs(valuesFile);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const spec = (values?.template as { spec?: Record<string, any> } | undefined)?.spec;
    const runner = spec?.containers?.find((c: { name: string }) => c.name === "runner");
    const env = (name: string) => runner?.env?.find((e: { name: string; value?: string }) => e.name === name)?.value as string | undefined;
    const runtimeClass = need(env("CRUCIBLE_SANDBOX_RUNTIME_CLASS"), valuesFile, "the runner's CRUCIBLE_SANDBOX_RUNTIME_CLASS");
    const classDoc = need(
      runtimeClasses.find((doc) => doc.kind === "RuntimeClass" && doc.metadata?.name === runtimeClass),
      `${KUBERNETES}/generated/runtime-classes.yaml`,
      `the RuntimeClass ${runtimeClass}`,
    );
    const overhead = (classDoc.overhead as { podFixed?: Record<string, string> } | undefined)?.podFixed ?? {};
    const selector = (classDoc.scheduling as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
    scaleSets.push({
      name: need(values?.runnerScaleSetName as string, valuesFile, "runnerScaleSetName"),
      gpu: set.gpu,
      minRunners: need(values?.minRunners as number, valuesFile, "minRunners"),
      maxRunners: need(values?.maxRunners as number, valuesFile, "maxRunners"),
      labels: need(values?.scaleSetLabels as string[], valuesFile, "scaleSetLabels"),
      runnerGroup: need(values?.runnerGroup as string, valuesFile, "runnerGroup"),
      runnerImage: need(runner?.image as string, valuesFile, "the runner container's image"),
      runnerUid: need(spec?.securityContext?.runAsUser as number, valuesFile, "the runner pod's runAsUser"),
      runtimeClass,
      handler: need(classDoc.handler as string, `${KUBERNETES}/generated/runtime-classes.yaml`, `the handler of ${runtimeClass}`),
      nodeSelector: Object.keys(selector).join(", "),
      overhead: Object.entries(overhead)
        .map(([resource, amount]) => `${amount} ${resource}`)
        .join(", "),
      policy: await policyOf(set.policy),
    });
  }
  const cpuSet = need(scaleSets.find((s) => !s.gpu) ?? scaleSets[0], fleetFile, "a scale set");
  const podFile = `${KUBERNETES}/generated/sandbox-pod-${cpuSet.name}.yaml`;
  const [pod] = await yamlDocs(podFile);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const podSpec = need(pod?.spec as Record<string, any> | undefined, podFile, "spec");
  const program = podSpec.containers?.[0]?.securityContext ?? {};
  const namespaces = await yamlDocs(`${KUBERNETES}/generated/namespaces.yaml`);
  const sandboxesNamespace = need(fleet.namespaces?.sandboxes as string, fleetFile, "namespaces.sandboxes");
  const sandboxNamespace = namespaces.find((doc) => doc.metadata?.name === sandboxesNamespace);
  const quotaFile = `${KUBERNETES}/generated/quotas.yaml`;
  const quota = (await yamlDocs(quotaFile)).find((doc) => doc.kind === "ResourceQuota" && doc.metadata?.namespace === sandboxesNamespace);
  const hard = need(
    (quota?.spec as { hard?: Record<string, string | number> } | undefined)?.hard,
    quotaFile,
    `the ResourceQuota of ${sandboxesNamespace}`,
  );
  return {
    githubUrl: need(fleet.github?.configUrl as string, fleetFile, "github.configUrl"),
    runnerGroup: cpuSet.runnerGroup,
    hostLabels: cpuSet.labels,
    hostPolicy: await policyOf("policy.json"),
    runnersNamespace: need(fleet.namespaces?.runners as string, fleetFile, "namespaces.runners"),
    sandboxesNamespace,
    podSecurity: sandboxNamespace?.metadata?.labels?.["pod-security.kubernetes.io/enforce"] ?? "not enforced",
    scaleSets,
    networkPolicies: (await yamlDocs(`${KUBERNETES}/generated/network-policies.yaml`))
      .filter((doc) => doc.kind === "NetworkPolicy")
      .map((doc) => ({ namespace: doc.metadata?.namespace ?? "", name: doc.metadata?.name ?? "" })),
    sandboxPod: {
      automountToken: podSpec.automountServiceAccountToken !== false,
      readOnlyRoot: program.readOnlyRootFilesystem === true,
      runAsUser: program.runAsUser ?? podSpec.securityContext?.runAsUser,
      privilegeEscalation: program.allowPrivilegeEscalation !== false,
      capabilitiesDropped: program.capabilities?.drop ?? [],
    },
    sandboxQuota: Object.fromEntries(Object.entries(hard).map(([key, value]) => [key, String(value)])),
    sources: [...new Set(sources)],
  };
}
