// npm run bench: relay latency and throughput, and the overhead of a run through the action compared
// with a bare `docker run --runtime=runsc`. Figures go to actions/run/benchmark.json (committed).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { DockerSandboxProvider, monitoringFor } from "../lib/src/docker/index.js";
import {
  loadExperiment,
  loadPolicy,
  monitoringRulesFile,
  runExperiment,
  type MonitoringOptions,
  type RelayedLine,
} from "../lib/src/index.js";

const root = process.cwd();
const imagesDir = path.join(root, "runner-setup/images");
const policy = await loadPolicy(path.join(root, "runner-setup/policy.json"));
const provider = new DockerSandboxProvider(policy.runtime, imagesDir);
const image = await provider.prepareImage("base");
const work = await mkdtemp(path.join(os.tmpdir(), "crucible-bench-"));

async function experiment(name: string, program: string) {
  const dir = path.join(work, "experiments", name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "main.py"), program);
  await writeFile(
    path.join(dir, "experiment.yaml"),
    `apiVersion: crucible/v1\nname: ${name}\ndescription: benchmark\nimage: base\n` +
      "command: [python3, main.py]\ninputs: [main.py]\nresources: {cpus: 1, memory: 512Mi, timeout: 600s}\n",
  );
  return path.join(dir, "experiment.yaml");
}

async function run(file: string, onLine?: (line: RelayedLine, at: number) => void, monitoring?: MonitoringOptions) {
  const exp = await loadExperiment(file, { imagesDir });
  let created = 0;
  const { result } = await runExperiment({
    experiment: exp,
    policy,
    provider,
    repoRoot: work,
    resultsRoot: path.join(work, "results"),
    events: { sandboxCreated: () => (created = Date.now()), line: (l) => onLine?.(l, Date.now()) },
    ...(monitoring ? { monitoring } : {}),
  });
  return { result, created };
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const median = (values: number[]) => percentile(values, 50);

// 1. Latency: the program stamps 200 lines with its clock (gVisor reads the host's), we stamp arrival.
const latencyFile = await experiment(
  "latency",
  "import time\nfor i in range(200):\n    print(f'{time.time():.6f}', flush=True)\n    time.sleep(0.01)\n",
);
const latencies: number[] = [];
let firstLineAt = 0;
const latencyRun = await run(latencyFile, (line, at) => {
  firstLineAt ||= at;
  latencies.push(at - Number(line.text) * 1000);
});

// 2. Throughput: 200k lines as fast as the program can print them, every one counted.
const lineCount = 200_000;
const throughputFile = await experiment("throughput", `for i in range(${lineCount}): print(i)\n`);
let received = 0;
let first = 0;
let last = 0;
let inOrder = true;
const throughputRun = await run(throughputFile, (line, at) => {
  if (line.text !== String(received)) inOrder = false;
  received++;
  first ||= at;
  last = at;
});

// 3. Overhead: a trivial experiment through the bundled run action (policy, host-fit check, monitoring,
//    slot, collection, result) vs a bare `docker run` of the same image with the same hardening the
//    sandbox gets (docker/host-config.ts), in pairs whose order alternates, so load on the shared machine
//    falls on both sides alike.
const trivial = await experiment("trivial", "print('hi')\n");
for (const f of ["out", "summary", "state"]) await writeFile(path.join(work, f), "");
const hardened = [
  "--rm",
  "--runtime=runsc",
  "--network=none",
  "--read-only",
  "--cap-drop=ALL",
  "--security-opt=no-new-privileges",
  "--user=65534:65534",
  `--pids-limit=${policy.pidsLimit}`,
  "--memory=512m",
  "--memory-swap=512m",
  "--cpus=1",
  `--ulimit=nproc=${policy.nproc}`,
  `--ulimit=nofile=${policy.nofile}`,
  `--tmpfs=/tmp:rw,nosuid,nodev,size=${policy.tmpBytes}`,
];
const actionTimes: number[] = [];
const bareTimes: number[] = [];
const pairs = 10;
const nodeBin = path.join(root, "node_modules/.bin/node");
const actionBundle = path.join(root, "actions/run/dist/index.js");
const actionEnv = {
  PATH: process.env.PATH,
  // The runner's home: its private caches (runsc's findings) live there.
  HOME: os.homedir(),
  GITHUB_WORKSPACE: work,
  INPUT_EXPERIMENT: path.relative(work, trivial),
  "INPUT_RESULTS-DIR": path.join(work, "results"),
  GITHUB_OUTPUT: path.join(work, "out"),
  GITHUB_STEP_SUMMARY: path.join(work, "summary"),
  GITHUB_STATE: path.join(work, "state"),
};
const timeAction = () => {
  const t = Date.now();
  const action = spawnSync(nodeBin, [actionBundle], { env: actionEnv });
  actionTimes.push(Date.now() - t);
  if (action.status !== 0) throw new Error(`action failed: ${action.stdout}${action.stderr}`);
};
const timeBare = () => {
  const t = Date.now();
  execFileSync("docker", ["run", ...hardened, image.id, "python3", "-c", "print('hi')"]);
  bareTimes.push(Date.now() - t);
};
for (let i = 0; i < pairs; i++) {
  if (i % 2 === 0) {
    timeAction();
    timeBare();
  } else {
    timeBare();
    timeAction();
  }
}
const pairRatios = actionTimes.map((a, i) => a / bareTimes[i]!);

// 3b. Where the action's time goes: more runs of it, each through a Docker endpoint that stamps every API
//     call, and with its log lines stamped as they arrive (after the pairs, so the proxy's own cost is not
//     in the ratio). Phases are medians over the runs, in ms from the process's start.
interface Stamped {
  at: number;
  what: string;
}
async function dockerStamps(stamps: Stamped[], since: () => number): Promise<{ host: string; close(): void }> {
  const socketPath = path.join(await mkdtemp(path.join(os.tmpdir(), "crucible-bench-docker-")), "docker.sock");
  const upstream = "/var/run/docker.sock";
  const callName = (req: http.IncomingMessage) => `${req.method} ${(req.url ?? "").replace(/\?.*/, "").replace(/[0-9a-f]{64}/, "<id>")}`;
  const server = http.createServer((req, res) => {
    const name = callName(req);
    stamps.push({ at: since(), what: `call ${name}` });
    // agent: false, so no kept-alive connection to the daemon holds the benchmark's process open at its end.
    const forward = http.request(
      { socketPath: upstream, path: req.url, method: req.method, headers: req.headers, agent: false },
      (answer) => {
        // Streams (attach, wait, stats) send their headers at once; the client waits for them before `start`.
        res.writeHead(answer.statusCode ?? 502, answer.headers).flushHeaders();
        answer.pipe(res);
        answer.on("end", () => stamps.push({ at: since(), what: `done ${name}` }));
      },
    );
    forward.on("error", (error) => res.destroy(error));
    // The action's end closes its side; the daemon's side (a stats stream, say) would otherwise stay open
    // and keep this process alive after its figures.
    res.on("close", () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
async function stampedActionRun() {
  const stamps: Stamped[] = [];
  const t = performance.now();
  const since = () => performance.now() - t;
  const docker = await dockerStamps(stamps, since);
  const action = spawn(nodeBin, [actionBundle], { env: { ...actionEnv, DOCKER_HOST: docker.host } });
  let pending = "";
  action.stdout.on("data", (chunk: Buffer) => {
    const lines = (pending + chunk.toString("utf8")).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) stamps.push({ at: since(), what: `line ${line}` });
  });
  const code = await new Promise<number | null>((resolve) => action.on("close", resolve));
  stamps.push({ at: since(), what: "exit" });
  docker.close();
  if (code !== 0) throw new Error(`action failed: ${stamps.map((s) => s.what).join("\n")}`);
  const first = (prefix: string) => stamps.find((s) => s.what.startsWith(prefix))?.at ?? NaN;
  const calls = stamps.filter((s) => s.what.startsWith("call "));
  const created = first("call POST /containers/create");
  const exited = first("done POST /containers/<id>/wait");
  return {
    // Node's start, the bundle's load, the inputs: until the first Docker call (/info).
    startUntilFirstDockerCall: calls[0]!.at,
    // The policy and the experiment (read while /info is answered), the host-fit check (runsc's findings,
    // runtime arguments, cgroups) and monitoring discovery.
    hostFitAndMonitoringDiscovery: first("line ::group::prepare image") - calls[0]!.at,
    // Leftover sandboxes, the image check, the sandbox slot, the trace session, the scratch folder.
    prepareUntilCreate: created - first("line ::group::prepare image"),
    // create, attach, start, the program, its exit: the part a bare `docker run` also does.
    createUntilExit: exited - created,
    // inspect, collection, removal, unmount, result and summary files, the process's exit.
    exitUntilProcessEnd: first("exit") - exited,
    total: first("exit"),
    dockerCalls: calls.length,
  };
}
const stampedRuns: Awaited<ReturnType<typeof stampedActionRun>>[] = [];
for (let i = 0; i < 5; i++) stampedRuns.push(await stampedActionRun());
const breakdown = Object.fromEntries(
  Object.keys(stampedRuns[0]!).map((key) => [
    key,
    Math.round(median(stampedRuns.map((r) => r[key as keyof (typeof stampedRuns)[number]]))),
  ]),
);
const nodeStartTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  execFileSync(nodeBin, ["-e", "0"]);
  nodeStartTimes.push(performance.now() - t);
}

// 4. Monitoring overhead: the same experiment monitored (a runsc-monitored-<k> runtime and the collector) and not,
//    alternating, whole runs timed; on the trivial experiment and on one that makes 3,000 opens (each traced).
const monitoring = await monitoringFor(provider.docker, monitoringRulesFile(root), policy);
if ("unavailable" in monitoring) throw new Error(`monitoring is unavailable: ${monitoring.unavailable}`);
const opens = await experiment("opens", "for i in range(3000):\n    open('/etc/hostname').close()\n");
async function timedRun(file: string, withMonitoring: MonitoringOptions | undefined) {
  const t = Date.now();
  const { result } = await run(file, undefined, withMonitoring ? { ...withMonitoring, lockWaitMs: 600_000 } : undefined);
  const name = result.experiment.name;
  if (result.status !== "succeeded") throw new Error(`${name} ${result.status}: ${result.statusReason}`);
  if (withMonitoring && result.monitoring?.status !== "available") throw new Error(`${name} was not monitored`);
  return Date.now() - t;
}
async function overhead(file: string, repetitions: number) {
  const monitored: number[] = [];
  const unmonitored: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    unmonitored.push(await timedRun(file, undefined));
    monitored.push(await timedRun(file, monitoring));
  }
  return {
    monitoredMs: median(monitored),
    unmonitoredMs: median(unmonitored),
    ratio: Math.round((median(monitored) / median(unmonitored)) * 100) / 100,
    repetitions,
  };
}
const monitoringOverhead = { trivial: await overhead(trivial, 5), opens3000: await overhead(opens, 3) };

// 5. Set-up cost: `npm run demo` in a fresh clone, with the `base` image untagged first so the demo builds it
//    as on a new machine. The machine's Debian packages and npm's download cache are already there, so their
//    first-time cost is not in this figure (README). The image build's own time is read from its log line.
//    Whatever happens, `base` is there again afterwards, and a failure is reported after the other figures
//    are written.
async function demoFromFreshClone() {
  const clone = await mkdtemp(path.join(os.tmpdir(), "crucible-bench-clone-"));
  try {
    execFileSync("git", ["clone", "--quiet", "--no-hardlinks", root, clone]);
    // Docker's reason (an image a container still uses, say) goes into the error.
    execFileSync("docker", ["image", "rm", image.ref], { stdio: ["ignore", "ignore", "pipe"] });
    // The runner's own settings (CRUCIBLE_*, DOCKER_HOST) go through, so setup keeps this host as it is; PATH
    // only with what the demo puts there itself: a fresh clone has no node_modules/.bin yet.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("CRUCIBLE_") || name === "DOCKER_HOST"));
    const cleanPath = process.env
      .PATH!.split(":")
      .filter((p) => !p.includes("node_modules"))
      .join(":");
    const t = Date.now();
    const demo = spawnSync("npm", ["run", "demo"], { cwd: clone, env: { ...env, PATH: cleanPath, HOME: os.homedir() }, encoding: "utf8" });
    const wallMs = Date.now() - t;
    if (demo.status !== 0) throw new Error(`npm run demo failed in a fresh clone:\n${demo.stdout}\n${demo.stderr}`);
    const built = /built image crucible\/base:\S+ \([^)]*\) in (\d+) s/.exec(demo.stdout + demo.stderr);
    if (!built) throw new Error("npm run demo did not build the base image");
    return { wallMs, baseImageBuildMs: Number(built[1]) * 1000, loadAverage1m: Math.round(os.loadavg()[0]! * 10) / 10 };
  } finally {
    await rm(clone, { recursive: true, force: true });
    await provider.prepareImage("base");
  }
}
const demoFromFreshCloneMs = await demoFromFreshClone().catch((error: unknown) => ({ failed: String(error) }));

const figures = {
  measuredAt: new Date().toISOString(),
  host: {
    cpus: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    runtime: `${latencyRun.result.runtime.name} ${latencyRun.result.runtime.version}`,
  },
  // From the sandbox container being created (start follows at once) to the program's first line arriving.
  containerStartToFirstLineMs: firstLineAt - latencyRun.created,
  lineLatencyMs: {
    p50: Math.round(percentile(latencies, 50) * 10) / 10,
    p99: Math.round(percentile(latencies, 99) * 10) / 10,
    lines: latencies.length,
  },
  relayThroughput: {
    lines: lineCount,
    received,
    inOrder,
    linesPerSecond: Math.round(received / Math.max(0.001, (last - first) / 1000)),
    status: throughputRun.result.status,
  },
  // Medians of interleaved pairs; `medianPairRatio` is the median of each pair's own ratio.
  trivialRunWallTimeMs: {
    throughAction: median(actionTimes),
    bareHardenedDockerRun: median(bareTimes),
    ratio: Math.round((median(actionTimes) / median(bareTimes)) * 100) / 100,
    medianPairRatio: Math.round(median(pairRatios) * 100) / 100,
    pairs,
    loadAverage1m: Math.round(os.loadavg()[0]! * 10) / 10,
  },
  // Where the action's time goes (ms, medians of runs through a Docker endpoint that stamps each call).
  trivialRunBreakdownMs: {
    ...breakdown,
    nodeStartAlone: Math.round(median(nodeStartTimes)),
    runs: stampedRuns.length,
    loadAverage1m: Math.round(os.loadavg()[0]! * 10) / 10,
  },
  // Whole runExperiment wall time, medians; the load average says how busy the shared machine was.
  monitoringOverhead: { ...monitoringOverhead, loadAverage1m: Math.round(os.loadavg()[0]! * 10) / 10 },
  // `npm run demo` in a fresh clone to its built report, the base image built anew; Debian packages already installed.
  demoFromFreshCloneMs,
};
if (received !== lineCount || !inOrder) throw new Error(`relay lost or reordered lines: ${received} of ${lineCount}`);
await writeFile(path.join(root, "actions/run/benchmark.json"), `${JSON.stringify(figures, null, 2)}\n`);
console.log(JSON.stringify(figures, null, 2));
if ("failed" in demoFromFreshCloneMs) throw new Error(demoFromFreshCloneMs.failed);
