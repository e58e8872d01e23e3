// One assembly of a local run for every adapter (the CLI and the run action): the runner's policy, the
// experiment, the sandbox provider the runner is configured for (Docker for the policy's runtime with the
// host-fit check, or Kubernetes pods when the runner pod's environment names a sandbox namespace), and
// signal handlers that cancel the run.
import Docker from "dockerode";
import { defaultArtifactStore } from "../artifact-store.js";
import { loadExperiment, type Experiment } from "../experiment.js";
import { defaultPolicyFile, imagesDirOf, monitoringRulesFile } from "../locations.js";
import { applyOverrides, loadRules } from "../monitoring/rules.js";
import type { MonitoringOptions } from "../monitoring/session.js";
import { kubernetesConfigured, kubernetesProviderFromEnv } from "../kubernetes/index.js";
import { loadPolicy, type SandboxPolicy } from "../policy.js";
import type { SandboxProvider } from "../sandbox/sandbox.js";
import { assertHostFit, type DockerInfo } from "./host-checks.js";
import { monitoringFor } from "./monitoring.js";
import { DockerSandboxProvider } from "./provider.js";

export interface AssembledRun {
  experiment: Experiment;
  policy: SandboxPolicy;
  provider: SandboxProvider;
  /** The artifact store the run uses (the option, or the installation's default). */
  artifactStore: string;
  /** Behaviour monitoring on this runner (the traced runtime and the rules with the policy's overrides), or why not. */
  monitoring: MonitoringOptions;
  /** Aborted by the first SIGINT or SIGTERM: the run stops its sandbox and records what happened. */
  signal: AbortSignal;
  /** Removes the signal handlers. */
  release(): void;
}

export interface AssembleOptions {
  /** The installation's root (installRoot): images and the default policy are found there. */
  root: string;
  experimentFile: string;
  /** Default: $CRUCIBLE_POLICY or the installation's runner-setup/policy.json. */
  policyFile?: string;
  /** Absolute path of the artifact store; default: defaultArtifactStore(). */
  artifactStore?: string;
  /** Told of each signal with how many arrived so far (the first one has already cancelled the run). */
  onSignal?: (signal: NodeJS.Signals, count: number) => void;
}

export async function assembleRun(options: AssembleOptions): Promise<AssembledRun> {
  // The runner pod has no Docker: its provider's preflight checks the cluster side instead of the host.
  const local = kubernetesConfigured() ? undefined : askDocker();
  const [policyRead, experimentRead] = await Promise.allSettled([
    loadPolicy(options.policyFile ?? defaultPolicyFile(options.root)),
    loadExperiment(options.experimentFile, { imagesDir: imagesDirOf(options.root) }),
  ]);
  if (policyRead.status === "rejected") throw policyRead.reason;
  if (experimentRead.status === "rejected") throw experimentRead.reason;
  const [policy, experiment] = [policyRead.value, experimentRead.value];
  const artifactStore = options.artifactStore ?? defaultArtifactStore();
  const { provider, monitoring } = local
    ? await dockerProvider({ root: options.root, policy, artifactStore, ...local })
    : {
        provider: await kubernetesProviderFromEnv(policy, imagesDirOf(options.root)),
        // No trace there yet; the rules still turn the output relay's and the outcome's signals into alerts.
        monitoring: {
          unavailable: "behaviour monitoring reads the host's traced runsc, which Kubernetes sandbox pods do not have yet",
          rules: applyOverrides(await loadRules(monitoringRulesFile(options.root)), policy.monitoring, "the runner policy"),
        },
      };
  const cancel = new AbortController();
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    cancel.abort();
    options.onSignal?.(signal, ++count);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    experiment,
    policy,
    provider,
    artifactStore,
    monitoring,
    signal: cancel.signal,
    release() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Docker answers /info while the policy and the experiment are read. Its refusal waits for them (a bad
 * file is reported first), and is caught here so that it never counts as unhandled in the meantime.
 */
function askDocker(): { docker: Docker; dockerInfo: Promise<DockerInfo> } {
  const docker = new Docker();
  const dockerInfo = docker.info() as Promise<DockerInfo>;
  dockerInfo.catch(() => undefined);
  return { docker, dockerInfo };
}

async function dockerProvider(options: {
  root: string;
  policy: SandboxPolicy;
  artifactStore: string;
  docker: Docker;
  dockerInfo: Promise<DockerInfo>;
}): Promise<{ provider: SandboxProvider; monitoring: MonitoringOptions }> {
  const { root, policy, artifactStore, docker, dockerInfo } = options;
  const provider = new DockerSandboxProvider(policy.runtime, imagesDirOf(root), docker);
  // Monitoring discovery (the rules file, Docker's traced runtimes) goes on while the host-fit check waits
  // for runsc; the check's refusal is reported first. Both read Docker's runtimes from the one /info.
  const [fit, monitoring] = await Promise.allSettled([
    assertHostFit({ docker, policy, imagesDir: imagesDirOf(root), artifactStore, dockerInfo }),
    monitoringFor(docker, monitoringRulesFile(root), policy, dockerInfo),
  ]);
  // A host that fails a safety-relevant doctor check takes no run: the refusal carries the doctor's rows.
  if (fit.status === "rejected") throw fit.reason;
  provider.adoptHostFindings(fit.value);
  if (monitoring.status === "rejected") throw monitoring.reason;
  return { provider, monitoring: monitoring.value };
}

/** A client of the local Docker daemon, for adapters that clean up or build without a run. */
export function localDocker(): Docker {
  return new Docker();
}
