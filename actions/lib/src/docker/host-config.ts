// The policy, in Docker's terms: a sandbox spec becomes a container configuration (HostConfig).
import type Docker from "dockerode";
import { runtimeFor, SANDBOX_ARTIFACTS, SANDBOX_OUTPUT, SANDBOX_WORKDIR, type SandboxSpec } from "../policy.js";

/**
 * The one place that turns a sandbox spec (the policy's runtime-neutral terms) into Docker's container
 * configuration; `outputDir` is the host folder mounted at /output. Nothing else sets
 * HostConfig, so what is reviewed here is what runs.
 */
export function buildContainerConfig(spec: SandboxSpec, argv: string[], outputDir: string): Docker.ContainerCreateOptions {
  const { policy, resources } = spec;
  const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  return {
    Image: spec.image,
    Cmd: argv,
    // No entrypoint from the image may wrap the program in a shell.
    Entrypoint: [],
    WorkingDir: SANDBOX_WORKDIR,
    // Docker's default hostname is the container id: host-side identity the program has no need for.
    Hostname: "sandbox",
    User: policy.user,
    Env: env,
    Labels: spec.labels,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    HostConfig: {
      Runtime: runtimeFor(spec),
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true"],
      Privileged: false,
      PidsLimit: policy.pidsLimit,
      Memory: resources.memoryBytes,
      MemorySwap: resources.memoryBytes,
      NanoCpus: Math.round(resources.cpus * 1e9),
      Ulimits: [
        { Name: "nproc", Soft: policy.nproc, Hard: policy.nproc },
        { Name: "nofile", Soft: policy.nofile, Hard: policy.nofile },
      ],
      Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${policy.tmpBytes}` },
      ShmSize: policy.shmBytes,
      Mounts: [
        ...spec.inputs.map((input) => ({
          Type: "bind" as const,
          Source: input.hostPath,
          Target: `${SANDBOX_WORKDIR}/${input.relative}`,
          ReadOnly: true,
        })),
        ...spec.artifacts.map((artifact) => ({
          Type: "bind" as const,
          Source: artifact.hostPath,
          Target: `${SANDBOX_ARTIFACTS}/${artifact.stage}/${artifact.path}`,
          ReadOnly: true,
        })),
        { Type: "bind" as const, Source: outputDir, Target: SANDBOX_OUTPUT, ReadOnly: false },
      ],
      LogConfig: { Type: "json-file", Config: { "max-size": String(policy.logMaxBytes), "max-file": "1" } },
      RestartPolicy: { Name: "no" },
      AutoRemove: false,
      ...(spec.gpuDeviceIds.length > 0
        ? { DeviceRequests: [{ Driver: "nvidia", DeviceIDs: spec.gpuDeviceIds, Capabilities: [["gpu", "compute", "utility"]] }] }
        : {}),
    },
  };
}

/** The applied configuration as recorded in results: environment values are left out because they may hold secrets. */
export function redactedConfig(config: Docker.ContainerCreateOptions): Record<string, unknown> {
  return { ...config, Env: (config.Env ?? []).map((e) => `${e.split("=")[0]}=<redacted>`) };
}
