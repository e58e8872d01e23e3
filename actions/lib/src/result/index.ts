// The result format and its readers and writers; no Docker, no @actions: the site imports it too.
export * from "./format.js";
export * from "./program-outputs.js";
export * from "./read.js";
export * from "./write.js";
export * from "./stages.js";
export * from "./provenance.js";
