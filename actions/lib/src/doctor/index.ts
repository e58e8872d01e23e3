export * from "./doctor.js";
export * from "./host-checks.js";
export * from "./runsc.js";
