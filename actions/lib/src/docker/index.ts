// The Docker entry: sandboxes as Docker containers under gVisor, images, garbage collection and the
// containment suite. Everything that imports dockerode is in this folder; adapters that run sandboxes
// import this entry beside the core one (../index.ts), the others never load dockerode.
export * from "./assemble.js";
export * from "./containment.js";
export * from "./gc.js";
export * from "./host-checks.js";
export * from "./host-config.js";
export * from "./image.js";
export * from "./image-build.js";
export * from "./monitoring.js";
export { DockerSandboxProvider, SETUP_HINT, toSample } from "./provider.js";
export * from "./runsc-cache.js";
export * from "./scratch.js";
