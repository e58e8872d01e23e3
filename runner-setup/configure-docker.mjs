// Adds (or corrects) the runsc runtime in Docker's daemon.json, keeping every other setting. The runtime
// arguments are chosen for the installed runsc build by `crucible runtime-args` (actions/lib/src/doctor/
// runsc.ts): runsc rejects flags it does not know, so one fixed list cannot suit every build.
// Usage: node configure-docker.mjs /etc/docker/daemon.json /usr/bin/runsc [crucible-cli] [--dry-run]
// Prints "changed" as its last line when the file was (or would be) rewritten, so setup.sh reloads dockerd.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const [file, runscPath, cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "actions", "cli", "bin", "crucible.js")] =
  args.filter((a) => a !== "--dry-run");
if (!file || !runscPath) throw new Error("usage: node configure-docker.mjs DAEMON_JSON RUNSC [CRUCIBLE_CLI] [--dry-run]");

let chosen;
try {
  chosen = JSON.parse(
    execFileSync(process.execPath, [cli, "runtime-args", runscPath], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
  );
} catch (error) {
  throw new Error(`cannot choose runtime arguments for ${runscPath}: ${(error.stderr || error.message).trim()}`);
}
let config = {};
try {
  config = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  if (error.code !== "ENOENT") throw new Error(`${file} is not valid JSON; fix or remove it: ${error.message}`);
}
const wanted = { path: runscPath, runtimeArgs: chosen.args };
if (JSON.stringify(config.runtimes?.runsc) === JSON.stringify(wanted)) {
  console.log(`[setup] ${file} already registers runsc ${chosen.version} with ${chosen.args.join(" ")}`);
} else {
  config.runtimes = { ...config.runtimes, runsc: wanted };
  for (const note of chosen.notes) console.log(`[setup]   ${note}`);
  if (dryRun) console.log(`[setup] would register runsc ${chosen.version} in ${file} with ${chosen.args.join(" ")}`);
  else {
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    console.log(`[setup] registered runsc ${chosen.version} in ${file} with ${chosen.args.join(" ")}`);
  }
  console.log("changed");
}
