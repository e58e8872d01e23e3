// The Crucible core: loads, validates, runs and records experiments. Adapters (the CLI and the GitHub
// Actions) import only from here, and nothing here imports @actions/*.
export * from "./artifact-store.js";
export * from "./changes.js";
export * from "./containment.js";
export * from "./errors.js";
export * from "./experiment.js";
export * from "./files.js";
export * from "./gc.js";
export * from "./gpu.js";
export * from "./limits.js";
export * from "./names.js";
export * from "./owner.js";
export * from "./scratch.js";
export * from "./usage.js";
export * from "./image.js";
export * from "./policy.js";
export * from "./relay.js";
export * from "./run.js";
export * from "./schemas.js";
export * from "./text.js";
export * from "./units.js";
export * from "./locations.js";
export type * from "./sandbox/sandbox.js";
export { DockerSandboxProvider, MANAGED_LABEL, RUN_ID_LABEL, SETUP_HINT } from "./sandbox/docker.js";
export * from "./monitoring/rules.js";
export * from "./monitoring/session.js";
export { decodeMessage, type TraceEvent } from "./monitoring/wire.js";
export * from "./monitoring/report.js";
