// Adds (or corrects) the runsc runtime in Docker's daemon.json, keeping every other setting. The runtime
// arguments are chosen for the installed runsc build by `crucible runtime-args` (actions/lib/src/doctor/
// runsc.ts): runsc rejects flags it does not know, so one fixed list cannot suit every build.
// With --pod-init-template=FILE --monitored-runtimes=N --monitoring-dir=DIR it also adds the traced runtimes
// `runsc-monitored-0` … `-<N-1>` (behaviour monitoring, runner-setup/MONITORING.md): the same runsc and
// arguments plus gVisor's trace session from DIR/pod-init-<k>.json, written here from FILE with the remote
// sink's socket made sink-<k>.sock, so each concurrent run has its own socket. Traced entries numbered N or
// more are removed; any other entry (an older single `runsc-monitored`) is left as it is.
// Usage: node configure-docker.mjs /etc/docker/daemon.json /usr/bin/runsc [crucible-cli]
//          [--pod-init-template=FILE --monitored-runtimes=N --monitoring-dir=DIR] [--dry-run]
// Prints "changed" as its last line when a file was (or would be) rewritten, so setup.sh reloads dockerd.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const template = option("pod-init-template");
const monitoringDir = option("monitoring-dir");
const monitoredRuntimes = Number(option("monitored-runtimes") ?? 0);
if (template && (!monitoringDir || !Number.isInteger(monitoredRuntimes) || monitoredRuntimes < 1 || monitoredRuntimes > 64))
  throw new Error("--pod-init-template needs --monitoring-dir=DIR and --monitored-runtimes=N with N between 1 and 64");
const [file, runscPath, cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "actions", "cli", "bin", "crucible.js")] =
  args.filter((a) => !a.startsWith("--"));
if (!file || !runscPath)
  throw new Error(
    "usage: node configure-docker.mjs DAEMON_JSON RUNSC [CRUCIBLE_CLI] [--pod-init-template=FILE --monitored-runtimes=N --monitoring-dir=DIR] [--dry-run]",
  );

let chosen;
try {
  chosen = JSON.parse(
    execFileSync(process.execPath, [cli, "runtime-args", runscPath], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
  );
} catch (error) {
  throw new Error(`cannot choose runtime arguments for ${runscPath}: ${(error.stderr || error.message).trim()}`, { cause: error });
}
let config = {};
try {
  config = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  if (error.code !== "ENOENT") throw new Error(`${file} is not valid JSON; fix or remove it: ${error.message}`, { cause: error });
}
const wanted = { runsc: { path: runscPath, runtimeArgs: chosen.args } };
// The trace configuration each traced runtime reads, by file name.
const traceConfigs = new Map();
if (template) {
  const session = JSON.parse(readFileSync(template, "utf8"));
  const sink = session.trace_session?.sinks?.find((s) => s.name === "remote");
  if (typeof sink?.config?.endpoint !== "string" || !sink.config.endpoint.startsWith("/"))
    throw new Error(`${template} names no remote sink with an absolute endpoint`);
  const socketDir = path.dirname(sink.config.endpoint);
  for (let k = 0; k < monitoredRuntimes; k++) {
    sink.config.endpoint = path.join(socketDir, `sink-${k}.sock`);
    const file = path.join(monitoringDir, `pod-init-${k}.json`);
    traceConfigs.set(file, `${JSON.stringify(session, null, 2)}\n`);
    wanted[`runsc-monitored-${k}`] = { path: runscPath, runtimeArgs: [...chosen.args, `--pod-init-config=${file}`] };
  }
}
const surplus = Object.keys(config.runtimes ?? {}).filter((name) => /^runsc-monitored-\d+$/.test(name) && !(name in wanted));
const changed = Object.keys(wanted).filter((name) => JSON.stringify(config.runtimes?.[name]) !== JSON.stringify(wanted[name]));
const staleConfigs = [...traceConfigs].filter(([file, text]) => {
  try {
    return readFileSync(file, "utf8") !== text;
  } catch {
    return true;
  }
});
const names = (list) =>
  list.length > 3
    ? `${list.slice(0, 2).join(", ")} … ${list.at(-1)}`
    : list.length > 1
      ? `${list.slice(0, -1).join(", ")} and ${list.at(-1)}`
      : list[0];
if (changed.length === 0 && surplus.length === 0 && staleConfigs.length === 0) {
  console.log(`[setup] ${file} already registers ${names(Object.keys(wanted))} (runsc ${chosen.version}, ${chosen.args.join(" ")})`);
} else {
  const runtimes = { ...config.runtimes, ...Object.fromEntries(changed.map((name) => [name, wanted[name]])) };
  for (const name of surplus) delete runtimes[name];
  config.runtimes = runtimes;
  for (const note of chosen.notes) console.log(`[setup]   ${note}`);
  // [what was done, what would be done]
  const what = [
    changed.length > 0 && [
      `registered`,
      `would register`,
      `${names(changed)} (runsc ${chosen.version}, ${chosen.args.join(" ")}) in ${file}`,
    ],
    surplus.length > 0 && [`removed`, `would remove`, `${names(surplus)} from ${file}`],
    staleConfigs.length > 0 && [`wrote`, `would write`, `the trace configurations ${names(staleConfigs.map(([f]) => f))}`],
  ].filter(Boolean);
  if (dryRun) for (const [, verb, object] of what) console.log(`[setup] ${verb} ${object}`);
  else {
    if (staleConfigs.length > 0) mkdirSync(monitoringDir, { recursive: true });
    for (const [traceFile, text] of staleConfigs) writeFileSync(traceFile, text, { mode: 0o644 });
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    for (const [verb, , object] of what) console.log(`[setup] ${verb} ${object}`);
  }
  console.log("changed");
}
