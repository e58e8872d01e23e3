// Adds (or corrects) the runsc runtime in Docker's daemon.json, keeping every other setting. The runtime
// arguments are chosen for the installed runsc build by `crucible runtime-args` (actions/lib/src/doctor/
// runsc.ts): runsc rejects flags it does not know, so one fixed list cannot suit every build.
// With --pod-init-config=FILE it also adds `runsc-monitored`: the same runsc and arguments plus gVisor's
// trace session from FILE (behaviour monitoring, runner-setup/MONITORING.md).
// Usage: node configure-docker.mjs /etc/docker/daemon.json /usr/bin/runsc [crucible-cli] [--pod-init-config=FILE] [--dry-run]
// Prints "changed" as its last line when the file was (or would be) rewritten, so setup.sh reloads dockerd.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const podInitConfig = args.find((a) => a.startsWith("--pod-init-config="))?.slice("--pod-init-config=".length);
const [file, runscPath, cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "actions", "cli", "bin", "crucible.js")] =
  args.filter((a) => !a.startsWith("--"));
if (!file || !runscPath)
  throw new Error("usage: node configure-docker.mjs DAEMON_JSON RUNSC [CRUCIBLE_CLI] [--pod-init-config=FILE] [--dry-run]");

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
const wanted = { runsc: { path: runscPath, runtimeArgs: chosen.args } };
if (podInitConfig) wanted["runsc-monitored"] = { path: runscPath, runtimeArgs: [...chosen.args, `--pod-init-config=${podInitConfig}`] };
const changed = Object.keys(wanted).filter((name) => JSON.stringify(config.runtimes?.[name]) !== JSON.stringify(wanted[name]));
if (changed.length === 0) {
  console.log(`[setup] ${file} already registers ${Object.keys(wanted).join(" and ")} (runsc ${chosen.version}, ${chosen.args.join(" ")})`);
} else {
  config.runtimes = { ...config.runtimes, ...Object.fromEntries(changed.map((name) => [name, wanted[name]])) };
  for (const note of chosen.notes) console.log(`[setup]   ${note}`);
  const what = `${changed.join(" and ")} (runsc ${chosen.version}, ${chosen.args.join(" ")})`;
  if (dryRun) console.log(`[setup] would register ${what} in ${file}`);
  else {
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    console.log(`[setup] registered ${what} in ${file}`);
  }
  console.log("changed");
}
