// Adds (or corrects) the runsc runtime in Docker's daemon.json, keeping every other setting. The runtime
// arguments are chosen for the installed runsc build by `crucible runtime-args` (actions/lib/src/doctor/
// runsc.ts): runsc rejects flags it does not know, so one fixed list cannot suit every build.
// With --pod-init-template=FILE --monitored-runtimes=N --monitoring-dir=DIR it also adds the traced runtimes
// `runsc-monitored-0` … `-<N-1>` (behaviour monitoring, runner-setup/MONITORING.md): the same runsc and
// arguments plus gVisor's trace session from DIR/pod-init-<k>.json, written here from FILE with the remote
// sink's socket made sink-<k>.sock, so each concurrent run has its own socket. Traced entries numbered N or
// more are removed; any other entry (an older single `runsc-monitored`) is left as it is.
// With --gpu-runtimes=NAME[,NAME…] (the runner policies' nvproxy runtimes) it adds `NAME-monitored-0` … `-<N-1>`
// for each NAME registered in daemon.json (runner-setup/GPU.md): NAME's own path and arguments plus
// pod-init-<k>.json, so a sandbox with GPUs keeps nvproxy and is traced on channel k's socket, under channel
// k's lease. A NAME not registered, or whose runsc has no --pod-init-config, gets none (and loses old ones).
// Usage: node configure-docker.mjs /etc/docker/daemon.json /usr/bin/runsc [crucible-cli]
//          [--pod-init-template=FILE --monitored-runtimes=N --monitoring-dir=DIR [--gpu-runtimes=NAME,…]] [--dry-run]
// Prints "changed" as its last line when a file was (or would be) rewritten, so setup.sh reloads dockerd.
import { execFileSync, spawnSync } from "node:child_process";
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
const gpuRuntimes = (option("gpu-runtimes") ?? "").split(",").filter(Boolean);
if (gpuRuntimes.some((name) => !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name === "runsc") || (gpuRuntimes.length > 0 && !template))
  throw new Error("--gpu-runtimes=NAME[,NAME…] needs --pod-init-template, and names of letters, digits, '.', '_' and '-' other than runsc");
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
// The traced GPU runtimes, and why a GPU runtime named by a policy gets none.
const gpuNotes = [];
for (const gpuRuntime of gpuRuntimes) {
  const entry = config.runtimes?.[gpuRuntime];
  const absent = !entry?.path
    ? `${gpuRuntime} is not registered in ${file} (runner-setup/GPU.md)`
    : !supportsPodInitConfig(entry.path)
      ? `${entry.path} (the runsc of ${gpuRuntime}) has no --pod-init-config`
      : undefined;
  if (absent) {
    gpuNotes.push(`${absent}: sandboxes with GPUs will not be traced`);
    continue;
  }
  const gpuArgs = (entry.runtimeArgs ?? []).filter((arg) => !arg.startsWith("--pod-init-config="));
  for (const [k, traceFile] of [...traceConfigs.keys()].entries())
    wanted[`${gpuRuntime}-monitored-${k}`] = { path: entry.path, runtimeArgs: [...gpuArgs, `--pod-init-config=${traceFile}`] };
}
const tracedGpuName = (name) =>
  gpuRuntimes.some((gpu) => name.startsWith(`${gpu}-monitored-`) && /^\d+$/.test(name.slice(`${gpu}-monitored-`.length)));
const surplus = Object.keys(config.runtimes ?? {}).filter(
  (name) => (/^runsc-monitored-\d+$/.test(name) || tracedGpuName(name)) && !(name in wanted),
);
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
const gpuWanted = Object.keys(wanted).filter(tracedGpuName);
const gpuTraced = (list) => `${names(list)} (the GPU runtime's arguments, traced)`;
if (changed.length === 0 && surplus.length === 0 && staleConfigs.length === 0) {
  const cpuWanted = Object.keys(wanted).filter((name) => !gpuWanted.includes(name));
  console.log(
    `[setup] ${file} already registers ${names(cpuWanted)} (runsc ${chosen.version}, ${chosen.args.join(" ")})` +
      (gpuWanted.length > 0 ? ` and ${gpuTraced(gpuWanted)}` : ""),
  );
} else {
  const runtimes = { ...config.runtimes, ...Object.fromEntries(changed.map((name) => [name, wanted[name]])) };
  for (const name of surplus) delete runtimes[name];
  config.runtimes = runtimes;
  for (const note of chosen.notes) console.log(`[setup]   ${note}`);
  const gpuChanged = changed.filter(tracedGpuName);
  const cpuChanged = changed.filter((name) => !gpuChanged.includes(name));
  // [what was done, what would be done]
  const what = [
    cpuChanged.length > 0 && [
      `registered`,
      `would register`,
      `${names(cpuChanged)} (runsc ${chosen.version}, ${chosen.args.join(" ")}) in ${file}`,
    ],
    gpuChanged.length > 0 && [`registered`, `would register`, `${gpuTraced(gpuChanged)} in ${file}`],
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
}
for (const note of gpuNotes) console.log(`[setup] ${note}`);
if (changed.length > 0 || surplus.length > 0 || staleConfigs.length > 0) console.log("changed");

/** Whether the runsc at this path has the --pod-init-config flag (`runsc flags` writes to stdout or stderr). */
function supportsPodInitConfig(binary) {
  const listed = spawnSync(binary, ["flags"], { encoding: "utf8", timeout: 30_000 });
  return /^ {2}-{1,2}pod-init-config\b/m.test(`${listed.stdout ?? ""}\n${listed.stderr ?? ""}`);
}
