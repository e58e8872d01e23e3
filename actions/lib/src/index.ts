// The Crucible core: loads, validates, runs and records experiments. No @actions/* and no dockerode here:
// adapters import this entry, the Docker entry (docker/index.ts) when they run sandboxes, and the
// GitHub entry (github/index.ts) when they talk to GitHub.
export * from "./action-env.js";
export * from "./artifact-store.js";
export * from "./changes.js";
export * from "./dockerfile.js";
export * from "./errors.js";
export * from "./experiment.js";
export * from "./files.js";
export * from "./gpu.js";
export * from "./image-archive.js";
export * from "./image-source.js";
export * from "./limits.js";
export * from "./locations.js";
export * from "./names.js";
export * from "./owner.js";
export * from "./policy.js";
export * from "./relay.js";
export * from "./result/index.js";
export * from "./run.js";
export * from "./sandbox/sandbox.js";
export * from "./schemas.js";
export * from "./text.js";
export * from "./units.js";
export * from "./usage.js";
export * from "./monitoring/doctor.js";
export * from "./monitoring/report.js";
export * from "./monitoring/rules.js";
export * from "./monitoring/session.js";
export { decodeMessage, type TraceEvent } from "./monitoring/wire.js";
export * from "./doctor/index.js";
export * from "./slot-leases.js";
export * from "./slots.js";
