// The host doctor's runtime-neutral parts: verdicts and the table (doctor.ts), what the installed runsc
// offers and which runtime arguments to give it (runsc.ts), and the programs the probe sandboxes run.
// The checks that ask Docker and start sandboxes are docker/host-checks.ts, behind the Docker entry.
export * from "./doctor.js";
export * from "./runsc.js";
