// Adds (or corrects) the runsc runtime in Docker's daemon.json, keeping every other setting. With a third
// argument it also adds `runsc-monitored`: the same runsc with gVisor's trace session from that
// --pod-init-config file (behaviour monitoring, runner-setup/MONITORING.md). Existing entries are never
// changed except to put back exactly what Crucible registered.
// Usage: node configure-docker.mjs /etc/docker/daemon.json /usr/bin/runsc [/etc/crucible/monitoring/pod-init.json]
import { readFileSync, writeFileSync } from "node:fs";

const [file, runscPath, podInitConfig] = process.argv.slice(2);
let config = {};
try {
  config = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  if (error.code !== "ENOENT") throw new Error(`${file} is not valid JSON; fix or remove it: ${error.message}`);
}
const wanted = { runsc: { path: runscPath, runtimeArgs: ["--network=none"] } };
if (podInitConfig) wanted["runsc-monitored"] = { path: runscPath, runtimeArgs: ["--network=none", `--pod-init-config=${podInitConfig}`] };
const changed = Object.keys(wanted).filter((name) => JSON.stringify(config.runtimes?.[name]) !== JSON.stringify(wanted[name]));
if (changed.length === 0) {
  console.log(`[setup] ${file} already registers ${Object.keys(wanted).join(" and ")}`);
} else {
  config.runtimes = { ...config.runtimes, ...Object.fromEntries(changed.map((name) => [name, wanted[name]])) };
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  console.log(`[setup] registered ${changed.join(" and ")} in ${file}`);
}
