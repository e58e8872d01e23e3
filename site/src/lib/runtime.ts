// Which runtime ran a run is part of what the run is: only gVisor (runsc) is a sandbox here. Runs under
// anything else (runc, the containment suite's comparison) are baselines, labelled so wherever a run is
// named, and never counted as sandboxed runs.

export interface RuntimeLike {
  name: string;
  version: string;
}

/** runsc, or a runsc registered under another Docker runtime name for GPUs (runsc-nvproxy, say). */
export function isSandboxed(runtime: RuntimeLike): boolean {
  return /^runsc(\b|[-_])/.test(runtime.name);
}

/** "gVisor (runsc 0.0~20221219.0)" or "baseline — not sandboxed (runc 1.1.5+ds1)". */
export function runtimeLabel(runtime: RuntimeLike): string {
  const version = runtime.version ? ` ${runtime.version}` : "";
  return isSandboxed(runtime) ? `gVisor (${runtime.name}${version})` : `baseline — not sandboxed (${runtime.name}${version})`;
}

/** The short form for tables and search facets: "gVisor" or "baseline (runc)". */
export function runtimeShort(runtime: RuntimeLike): string {
  return isSandboxed(runtime) ? "gVisor" : `baseline (${runtime.name})`;
}
