// The Kubernetes fleet (runner-setup/kubernetes/): rendered from one source of truth and committed as
// rendered; every manifest valid against Kubernetes' own schemas (kubernetes-models: types, formats,
// required fields) with no field Kubernetes does not know (the API server's strict field validation,
// checked here by the TypeScript declarations of the same models); every pod spec admitted by the
// "restricted" Pod Security Standard; and what the manifests promise: gVisor for every sandbox pod, no
// network in or out, quotas that never refuse a run the policy allows, the chart values the chart takes.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Ajv } from "ajv";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { KUBERNETES_ENV } from "../actions/lib/src/kubernetes/index.js";
import { restrictedViolations } from "./support/fake-kubernetes.js";
import { repoRoot } from "./support/repo.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;

// The scripts are plain JavaScript run by node on the hosts; imported by path, typed here.
const { DEFAULT_GROUP, GPU_LABEL, RUNNER_LABELS } = (await import(path.join(repoRoot, "runner-setup/jit-runner.mjs"))) as {
  DEFAULT_GROUP: string;
  GPU_LABEL: string;
  RUNNER_LABELS: string[];
};
const { GENERATED, loadSources, render, toYaml } = (await import(path.join(repoRoot, "runner-setup/kubernetes/render.mjs"))) as {
  GENERATED: string;
  loadSources(): Promise<{ fleet: Json; policies: Json }>;
  render(sources: { fleet: Json; policies: Json }): Record<string, Json[]>;
  toYaml(documents: Json[]): string;
};

interface Manifest {
  file: string;
  value: Json;
  /** The kubernetes-models module and interface that describe it. */
  module: string;
  type: string;
}

async function committed(): Promise<Record<string, Json[]>> {
  const out: Record<string, Json[]> = {};
  for (const file of Object.keys(render(await loadSources()))) {
    out[file] = parseAllDocuments(await readFile(path.join(GENERATED, file), "utf8")).map((d) => d.toJS() as Json);
  }
  return out;
}

/** Every object Kubernetes will be given: the manifests, and the runner pod template inside each chart values file. */
function manifests(files: Record<string, Json[]>): Manifest[] {
  const out: Manifest[] = [];
  for (const [file, docs] of Object.entries(files)) {
    for (const value of docs) {
      if (file.startsWith("values-")) {
        const module = "kubernetes-models/v1/PodTemplateSpec";
        out.push({ file: `${file} template`, value: value.template, module, type: "IPodTemplateSpec" });
      } else {
        const [group, version] = value.apiVersion.includes("/") ? value.apiVersion.split("/") : ["", value.apiVersion];
        const module = `kubernetes-models/${group ? `${group}/` : ""}${version}/${value.kind}`;
        out.push({ file: `${file} ${value.kind} ${value.metadata?.name ?? ""}`, value, module, type: `I${value.kind}` });
      }
    }
  }
  return out;
}

/** Schema errors as kubernetes-models' validators (Kubernetes' OpenAPI schemas, compiled) report them. */
async function schemaErrors(manifest: Manifest): Promise<string[]> {
  const exported = (await import(manifest.module)) as Record<string, new (data: Json) => { validate(): void }>;
  const Model = exported[manifest.type.slice(1)]!;
  try {
    new Model(manifest.value).validate();
    return [];
  } catch (error) {
    return [`${manifest.file}: ${(error as Error).message}`];
  }
}

/**
 * Fields Kubernetes does not know. kubernetes-models' validators accept unknown fields; the API server's
 * strict field validation (kubectl's default) refuses them. The same models' TypeScript declarations know
 * every field, so each manifest is type-checked as an object literal of its type: excess property checks
 * then find an unknown field at any depth.
 */
function unknownFields(list: Manifest[]): string[] {
  const file = path.join(repoRoot, "test", "__kubernetes_manifests__.ts");
  const imports = list.map((m, i) => `import type { ${m.type} as T${i} } from "${m.module}";`);
  const source = [...imports, ...list.map((m, i) => `export const m${i}: T${i} = ${JSON.stringify(m.value)};`)].join("\n");
  const options: ts.CompilerOptions = {
    ...{ strict: true, noEmit: true, skipLibCheck: true, types: [] },
    ...{ target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists;
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const manifest = list[line - imports.length];
    return `${manifest?.file ?? d.file?.fileName ?? "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

/** The gha-runner-scale-set chart's values we set, as chart 0.14.x reads them (values.yaml and templates/autoscalingrunnerset.yaml). */
const SCALE_SET_VALUES = {
  type: "object",
  additionalProperties: false,
  required: ["githubConfigUrl", "githubConfigSecret", "template"],
  properties: {
    githubConfigUrl: { type: "string", pattern: "^https://" },
    githubConfigSecret: { anyOf: [{ type: "string", minLength: 1 }, { type: "object" }] },
    runnerScaleSetName: { type: "string", maxLength: 45, pattern: "^[a-z0-9-]+$" },
    scaleSetLabels: { type: "array", items: { type: "string", minLength: 1, maxLength: 255 } },
    runnerGroup: { type: "string", minLength: 1 },
    minRunners: { type: "integer", minimum: 0 },
    maxRunners: { type: "integer", minimum: 0 },
    template: { type: "object" },
  },
};

describe("runner-setup/kubernetes", () => {
  it("the committed manifests are what render.mjs makes of fleet.json and the runner policies", async () => {
    const files = render(await loadSources());
    for (const [file, documents] of Object.entries(files)) {
      const stale = `${file} is stale: run node runner-setup/kubernetes/render.mjs`;
      expect(await readFile(path.join(GENERATED, file), "utf8"), stale).toBe(toYaml(documents));
    }
  });

  it("every manifest is valid against Kubernetes' schemas, with no field Kubernetes does not know", async () => {
    const list = manifests(await committed());
    expect(list.length).toBeGreaterThan(15);
    expect((await Promise.all(list.map(schemaErrors))).flat()).toEqual([]);
    expect(unknownFields(list)).toEqual([]);

    // Both checks can fail: a misspelt field, a malformed quantity.
    const pod = list.find((m) => m.value.kind === "Pod")!;
    const typo = { ...pod, value: { ...pod.value, spec: { ...pod.value.spec, runtimeClasName: "gvisor" } } };
    expect(unknownFields([typo]).join("\n")).toMatch(/known properties, and '"runtimeClasName"' does not exist in type 'IPodSpec'/);
    const quota = list.find((m) => m.value.kind === "ResourceQuota")!;
    const bad = { ...quota, value: { ...quota.value, spec: { hard: { "requests.cpu": "two" } } } };
    expect((await schemaErrors(bad)).join("\n")).toContain("quantity");
  });

  it("every pod is admitted by the restricted Pod Security Standard, which both namespaces enforce", async () => {
    const files = await committed();
    const specs = manifests(files)
      .filter((m) => m.value.kind === "Pod" || m.file.includes("template"))
      .map((m) => [m.file, m.value.spec] as const);
    expect(specs).toHaveLength(4);
    for (const [file, spec] of specs) expect(restrictedViolations(spec), file).toEqual([]);
    expect(restrictedViolations({ containers: [{ name: "dind", securityContext: { privileged: true } }] })).toContain("dind: privileged");
    for (const ns of files["namespaces.yaml"]!) {
      for (const mode of ["enforce", "warn", "audit"]) expect(ns.metadata.labels[`pod-security.kubernetes.io/${mode}`]).toBe("restricted");
    }
  });

  it("every sandbox pod runs under gVisor (the policy's runtime as the class's handler), no network, token or host access", async () => {
    const files = await committed();
    const { fleet, policies } = await loadSources();
    const classes = new Map(files["runtime-classes.yaml"]!.map((rc) => [rc.metadata.name, rc]));
    expect(classes.get(fleet.gvisor.runtimeClass)!.handler).toBe(policies["policy.json"].runtime);
    expect(classes.get(fleet.gvisor.gpuRuntimeClass)!.handler).toBe(policies["policy.gpu.json"].gpu.runtime);
    const toleration = { key: fleet.gpu.taint, operator: "Exists", effect: "NoSchedule" };
    expect(classes.get(fleet.gvisor.gpuRuntimeClass)!.scheduling.tolerations).toEqual([toleration]);

    for (const set of fleet.scaleSets) {
      const policy = policies[set.policy];
      const pod = files[`sandbox-pod-${set.name}.yaml`]![0]!;
      const spec = pod.spec;
      expect(pod.metadata.namespace).toBe(fleet.namespaces.sandboxes);
      expect(classes.get(spec.runtimeClassName)?.handler).toMatch(/^runsc/);
      expect([spec.automountServiceAccountToken, spec.enableServiceLinks, spec.hostNetwork ?? false]).toEqual([false, false, false]);
      const experiment = spec.containers.find((c: Json) => c.name === "experiment");
      expect(experiment.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(String(spec.securityContext.runAsUser)).toBe(policy.sandbox.user.split(":")[0]);
      const { nproc, nofile } = policy.sandbox;
      expect(experiment.command).toEqual(["prlimit", `--nproc=${nproc}:${nproc}`, `--nofile=${nofile}:${nofile}`, "--"]);
      expect(experiment.resources.limits).toEqual(experiment.resources.requests);
      expect(experiment.resources.limits[fleet.gpu.resource] ?? "0").toBe(String(set.gpu ? policy.limits.maxGpus : 0));
      expect(spec.runtimeClassName).toBe(set.gpu ? fleet.gvisor.gpuRuntimeClass : fleet.gvisor.runtimeClass);
      // Only /output is writable by the program, and it has the policy's size.
      const writable = experiment.volumeMounts.filter((m: Json) => !m.readOnly).map((m: Json) => m.mountPath);
      expect(writable).toEqual(["/output", "/tmp", "/dev/shm"]);
      // The exchange volume only through this sandbox's own folders, never whole.
      expect(spec.volumes.find((v: Json) => v.name === "exchange").persistentVolumeClaim.claimName).toBe(fleet.exchange.claim);
      const exchangeMounts = experiment.volumeMounts.filter((m: Json) => m.name === "exchange");
      expect(exchangeMounts.map((m: Json) => [m.mountPath, m.subPath])).toEqual(
        ["experiment", "artifacts", "output"].map((folder) => [`/${folder}`, `20260101T000000Z-abcdef/${folder}`]),
      );
      const inMemory = spec.volumes.filter((v: Json) => v.name === "tmp" || v.name === "shm").map((v: Json) => v.emptyDir.medium);
      expect(inMemory).toEqual(["Memory", "Memory"]);
    }
    const [deny] = files["network-policies.yaml"]!;
    expect(deny).toMatchObject({ metadata: { namespace: fleet.namespaces.sandboxes } });
    expect(deny!.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
  });

  it("quotas hold every runner's largest sandbox at once and no more; the limit range allows every policy ceiling", async () => {
    const files = await committed();
    const { fleet, policies } = await loadSources();
    const [quota, limits] = files["quotas.yaml"]!;
    const maxRunners = fleet.scaleSets.reduce((n: number, s: Json) => n + s.maxRunners, 0);
    expect(quota!.spec.hard.pods).toBe(String(maxRunners));
    const gpus = fleet.scaleSets.reduce((n: number, s: Json) => n + s.maxRunners * policies[s.policy].limits.maxGpus, 0);
    expect(quota!.spec.hard[`requests.${fleet.gpu.resource}`]).toBe(String(gpus));
    const gib = (q: string) => Number(/^(\d+)(Mi|Gi)$/.exec(q)![1]) / (q.endsWith("Mi") ? 1024 : 1);
    const needed = fleet.scaleSets.reduce((n: number, s: Json) => n + s.maxRunners * gib(policies[s.policy].limits.maxMemory), 0);
    expect(gib(quota!.spec.hard["requests.memory"])).toBeGreaterThan(needed);
    expect(gib(quota!.spec.hard["requests.memory"])).toBeLessThan(needed + maxRunners * 0.25);
    const max = limits!.spec.limits[0].max;
    for (const set of fleet.scaleSets) {
      const l = policies[set.policy].limits;
      expect(Number(max.cpu)).toBeGreaterThanOrEqual(l.maxCpus);
      expect(gib(max.memory)).toBeGreaterThanOrEqual(gib(l.maxMemory));
      expect(Number(max[fleet.gpu.resource])).toBeGreaterThanOrEqual(l.maxGpus);
    }
  });

  it("the chart values are what gha-runner-scale-set takes, with the labels and runner group a host registers with", async () => {
    const files = await committed();
    const { fleet, policies } = await loadSources();
    const validate = new Ajv({ allErrors: true }).compile(SCALE_SET_VALUES);
    for (const set of fleet.scaleSets) {
      const values = files[`values-${set.name}.yaml`]![0]!;
      expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
      expect(values.minRunners).toBeLessThanOrEqual(values.maxRunners);
      expect(values.runnerGroup).toBe(DEFAULT_GROUP);
      expect(values.scaleSetLabels).toEqual(set.gpu ? [...RUNNER_LABELS, GPU_LABEL] : RUNNER_LABELS);
      // No container mode: no Docker-in-Docker, no privileged container anywhere in the runner pod.
      expect(values.containerMode).toBeUndefined();
      expect(JSON.stringify(values)).not.toMatch(/privileged":true|docker/i);
      const mounted = values.template.spec.volumes.find((v: Json) => v.name === "policy").configMap.name;
      const policyMap = files["policies.yaml"]!.find((cm) => cm.metadata.name === mounted)!;
      expect(JSON.parse(policyMap.data["policy.json"])).toEqual(policies[set.policy]);
      // The runner pod carries everything the Kubernetes sandbox provider reads, and the exchange volume it names.
      const [runner] = values.template.spec.containers;
      const env = new Map<string, Json>(runner.env.map((e: Json) => [e.name, e]));
      const expected = Object.values(KUBERNETES_ENV).filter((name) => set.gpu || name !== KUBERNETES_ENV.gpuRuntimeClass);
      expect(expected.filter((name) => !env.has(name))).toEqual([]);
      const exchangeMount = runner.volumeMounts.find((m: Json) => m.name === "exchange");
      expect(exchangeMount.mountPath).toBe(env.get(KUBERNETES_ENV.exchange)!.value);
      const exchangeVolume = values.template.spec.volumes.find((v: Json) => v.name === "exchange");
      expect(exchangeVolume.persistentVolumeClaim.claimName).toBe(env.get(KUBERNETES_ENV.exchangeClaim)!.value);
    }
  });
});
