#!/usr/bin/env node
// A stand-in for the GitHub Actions runner application (its run.sh), which cannot be downloaded here. It
// behaves as the real runner does at the boundary the supervisor (runner-setup/jit-runner.mjs) relies on:
// - it reads its just-in-time configuration from ACTIONS_RUNNER_INPUT_JITCONFIG (or --jitconfig), decodes
//   it and writes the configuration files it carries (.runner, .credentials) into its own folder;
// - it opens one session with the service named in .runner (the GitHub double's runner broker), which
//   refuses a configuration used before, and exits 1 when refused;
// - it waits for one job, runs it in <folder>/_work and reports its conclusion, then exits 0: a JIT runner
//   is ephemeral and takes exactly one job;
// - SIGTERM or SIGINT while idle ends its session and exits 0; during a job, the job is cancelled first.
// What it saw (its uid, argv, environment names, the job) goes to <folder>/../events.jsonl for the tests.
import { execFile } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const folder = path.dirname(fileURLToPath(import.meta.url));
const events = path.join(folder, "..", "events.jsonl");
const record = (event) => appendFileSync(events, `${JSON.stringify({ at: Date.now(), pid: process.pid, ...event })}\n`);

let stopping = false;
let jobChild;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    stopping = true;
    jobChild?.kill("SIGKILL");
  });
}

const argIndex = process.argv.indexOf("--jitconfig");
const encoded = argIndex > 0 ? process.argv[argIndex + 1] : process.env.ACTIONS_RUNNER_INPUT_JITCONFIG;
record({
  event: "runner-started",
  uid: process.getuid(),
  groups: process.getgroups(),
  argvHasConfig: process.argv.some((a) => a === encoded),
  env: Object.keys(process.env).sort(),
  cwd: process.cwd(),
  leftovers: [".runner", ".credentials", "_work"].filter((name) => existsSync(path.join(folder, name))),
});
if (!encoded) {
  process.stderr.write("stand-in runner: not configured (no --jitconfig and no ACTIONS_RUNNER_INPUT_JITCONFIG)\n");
  process.exit(1);
}

const files = JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
for (const [name, content] of Object.entries(files)) writeFileSync(path.join(folder, name), Buffer.from(content, "base64"));
const settings = JSON.parse(Buffer.from(files[".runner"], "base64").toString("utf8"));
const { token } = JSON.parse(Buffer.from(files[".credentials"], "base64").toString("utf8")).Data;

const call = async (method, tail, body) => {
  const response = await fetch(`${settings.ServerUrl}${tail}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, data: response.status === 204 ? undefined : await response.json() };
};

const session = await call("POST", "/sessions");
if (session.status !== 201) {
  record({ event: "session-refused", name: settings.AgentName, message: session.data?.message });
  process.stderr.write(`stand-in runner: ${session.data?.message}\n`);
  process.exit(1);
}
record({ event: "session", name: settings.AgentName });

let job;
while (!job && !stopping) {
  const response = await call("GET", "/job");
  if (response.status === 200) job = response.data;
  else await new Promise((resolve) => setTimeout(resolve, 50));
}
if (!job) {
  await call("DELETE", "/sessions");
  record({ event: "stopped-idle", name: settings.AgentName });
  process.exit(0);
}

const work = path.join(folder, settings.WorkFolder);
const sawLeftover = existsSync(path.join(work, "leftover"));
mkdirSync(work, { recursive: true });
writeFileSync(path.join(work, "leftover"), `left by job ${job.id}\n`);
const argv = job.steps.argv ?? [process.execPath, "-e", ""];
const exitCode = await new Promise((resolve) => {
  jobChild = execFile(argv[0], argv.slice(1), { cwd: work }, (error) => resolve(error ? (error.code ?? 1) : 0));
});
const conclusion = stopping ? "cancelled" : exitCode === 0 ? "success" : "failure";
await call("POST", "/job/complete", { conclusion });
record({ event: "job", name: settings.AgentName, job: job.id, workflowRef: job.workflowRef, conclusion, sawLeftover });
process.exit(0);
