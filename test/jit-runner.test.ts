// runner-setup/jit-runner.mjs, the supervisor of an ephemeral just-in-time runner, against the GitHub
// double. The real runner application cannot be downloaded here: test/support/stand-in-runner.mjs stands
// in for its run.sh and behaves as it does at the supervisor's boundary (reads the JIT configuration from
// its environment, one session per configuration, exactly one job, then exits). `crucible gc` and
// `crucible doctor` are replaced by a recording stand-in too: the real ones act on the Docker daemon other
// tests share (test/gc.test.ts and test/doctor.test.ts test them).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { FakeGitHub } from "./support/fake-github.js";
import { binDir, repoRoot } from "./support/repo.js";

const supervisorScript = path.join(repoRoot, "runner-setup/jit-runner.mjs");
const node = path.join(binDir, "node");
const EVALUATE = "octo/lab/.github/workflows/evaluate.yml@refs/heads/main";
const LABELS = ["self-hosted", "linux", "gvisor"];

interface HostEvent {
  event: string;
  name?: string;
  job?: number;
  uid?: number;
  groups?: number[];
  env?: string[];
  argvHasConfig?: boolean;
  leftovers?: string[];
  sawLeftover?: boolean;
  workflowRef?: string;
  argv?: string[];
  message?: string;
}

let fake: FakeGitHub | undefined;
let supervisor: ChildProcess | undefined;
afterEach(async () => {
  if (supervisor?.exitCode === null) supervisor.kill("SIGKILL");
  await fake?.close();
});

/** A host folder: the runner (the stand-in as run.sh), a recording `crucible`, the token file. */
interface Host {
  dir: string;
  runnerDir: string;
  args: string[];
  events(): Promise<HostEvent[]>;
}

async function host(token: string, runSh?: string): Promise<Host> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-jit-"));
  const runnerDir = path.join(dir, "runner");
  await mkdir(runnerDir);
  // As the real run.sh starts the runner program beside it.
  await copyFile(path.join(repoRoot, "test/support/stand-in-runner.mjs"), path.join(runnerDir, "stand-in-runner.mjs"));
  await writeFile(path.join(runnerDir, "run.sh"), runSh ?? '#!/bin/sh\nexec node "$(dirname "$0")/stand-in-runner.mjs" "$@"\n');
  await chmod(path.join(runnerDir, "run.sh"), 0o755);
  const gc = [
    'import { appendFileSync, existsSync } from "node:fs";',
    "const [command] = process.argv.slice(2);",
    "const event = JSON.stringify({ event: command, argv: process.argv.slice(2) });",
    'appendFileSync(new URL("./events.jsonl", import.meta.url), `${event}\\n`);',
    'if (command === "gc") console.log("gc: removed 0 sandbox(es)");',
    // A doctor report as `crucible doctor --json` prints it; a file beside this script makes the host unfit.
    'const unfit = existsSync(new URL("./unfit", import.meta.url));',
    'const row = unfit ? { id: "runsc-registered", check: "runsc registered with Docker", safety: true, status: "fail", ' +
      'result: "the runtime \\"runsc\\" is not registered", fix: "run `npm run setup`" } : { id: "docker", check: "Docker ' +
      'daemon reachable", safety: true, status: "pass", result: "Docker 20.10" };',
    'if (command === "doctor") { console.log(JSON.stringify({ ok: !unfit, checks: [row] })); process.exitCode = unfit ? 1 : 0; }',
  ];
  await writeFile(path.join(dir, "crucible.mjs"), `${gc.join("\n")}\n`);
  await writeFile(path.join(dir, "token"), `${token}\n`, { mode: 0o600 });
  const args = ["--runner-dir", runnerDir, "--token-file", path.join(dir, "token"), "--crucible", path.join(dir, "crucible.mjs")];
  args.push("--api-url", fake!.url, "--name", "gpu-host-1");
  const events = async () =>
    (await readFile(path.join(dir, "events.jsonl"), "utf8").catch(() => ""))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as HostEvent);
  return { dir, runnerDir, args, events };
}

function startSupervisor(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  let output = "";
  // A secret in the supervisor's own environment must not reach the runner (its environment is an allow-list).
  const env = { PATH: process.env.PATH, GITHUB_TOKEN: "ghp_must_not_leak", LANG: "C.UTF-8" };
  const child = spawn(node, [supervisorScript, ...args], { env });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 128)));
  supervisor = child;
  return { child, output: () => output, exited };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("runner-setup/jit-runner.mjs", () => {
  it("registers a JIT runner, which takes exactly one job; then gc and a new registration; SIGTERM leaves nothing registered", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} } });
    const h = await host("admin-token");
    const first = fake.runners.queueJob({ workflowRef: EVALUATE, labels: LABELS, steps: {} });
    const second = fake.runners.queueJob({ workflowRef: EVALUATE, labels: LABELS, steps: {} });
    const gpuJob = fake.runners.queueJob({ workflowRef: EVALUATE, labels: [...LABELS, "gpu"] });

    const run = startSupervisor(["--repo", "octo/lab", ...h.args]);
    await until(() => first.status === "completed" && second.status === "completed", "both jobs");
    // The third runner is registered and idle; stopping the service ends it and removes its registration.
    await until(() => fake!.runners.registered.length === 3 && fake!.runners.registered[2]!.status === "online", "a third runner online");
    run.child.kill("SIGTERM");
    expect(await run.exited, run.output()).toBe(0);

    const runners = fake.runners.registered;
    expect(runners.map((r) => r.labels)).toEqual([LABELS, LABELS, LABELS]);
    expect(runners.map((r) => r.groupId)).toEqual([1, 1, 1]);
    expect(new Set(runners.map((r) => r.name)).size).toBe(3);
    for (const r of runners) expect(r.name).toMatch(/^gpu-host-1-[0-9a-f]{6}$/);
    expect([first.runnerName, second.runnerName]).toEqual([runners[0]!.name, runners[1]!.name]);
    expect(gpuJob.status).toBe("queued"); // a runner without the gpu label never gets a gpu job
    expect(fake.runners.runners.size).toBe(0);

    const events = await h.events();
    expect(events.map((e) => (["gc", "doctor", "runner-started"].includes(e.event) ? e.event : `${e.event}:${e.name}`))).toEqual([
      "gc",
      "doctor",
      "runner-started",
      `session:${runners[0]!.name}`,
      `job:${runners[0]!.name}`,
      "gc",
      "doctor",
      "runner-started",
      `session:${runners[1]!.name}`,
      `job:${runners[1]!.name}`,
      "gc",
      "doctor",
      "runner-started",
      `session:${runners[2]!.name}`,
      `stopped-idle:${runners[2]!.name}`,
    ]);
    expect(events.filter((e) => e.event === "gc").map((e) => e.argv)).toEqual(Array(3).fill(["gc", "--artifacts-older-than", "336h"]));
    expect(events.filter((e) => e.event === "doctor").map((e) => e.argv)).toEqual(Array(3).fill(["doctor", "--json"]));
    for (const started of events.filter((e) => e.event === "runner-started")) {
      // The configuration arrives in the environment, never on the command line; nothing else of the
      // supervisor's environment does (PWD is run.sh's shell's own).
      expect(started.argvHasConfig).toBe(false);
      expect(started.env).toContain("ACTIONS_RUNNER_INPUT_JITCONFIG");
      const own = ["ACTIONS_RUNNER_INPUT_JITCONFIG", "HOME", "PATH", "LANG", "PWD", "RUNNER_MANUALLY_TRAP_SIG", "RUNNER_ALLOW_RUNASROOT"];
      expect(started.env!.filter((k) => !own.includes(k))).toEqual([]);
      // What the last job and the last configuration left is gone before the next runner starts.
      expect(started.leftovers).toEqual([]);
    }
    expect(events.filter((e) => e.event === "job").map((e) => e.sawLeftover)).toEqual([false, false]);

    const calls = fake.requests.filter((r) => r.operationId).map((r) => `${r.operationId} ${r.status}`);
    expect(calls).toEqual([
      "actions/generate-runner-jitconfig-for-repo 201",
      "actions/delete-self-hosted-runner-from-repo 404",
      "actions/generate-runner-jitconfig-for-repo 201",
      "actions/delete-self-hosted-runner-from-repo 404",
      "actions/generate-runner-jitconfig-for-repo 201",
      "actions/delete-self-hosted-runner-from-repo 204",
    ]);
    expect(fake.violations).toEqual([]);
    expect(run.output()).toContain("pass Docker daemon reachable: Docker 20.10");
  });

  it("a host that fails the doctor registers no runner, and says which check failed and how to fix it", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} } });
    const h = await host("admin-token");
    await writeFile(path.join(h.dir, "unfit"), "");
    const run = startSupervisor(["--repo", "octo/lab", "--once", ...h.args]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(
      "the host doctor failed, so this host takes no job:\n  runsc registered with Docker: the runtime " +
        '"runsc" is not registered (fix: run `npm run setup`)',
    );
    expect((await h.events()).map((e) => e.event)).toEqual(["gc", "doctor"]);
    expect(fake.runners.registered).toEqual([]);
    expect(fake.requests.filter((r) => r.operationId)).toEqual([]);
  });

  it("an organisation's runner in a group restricted to the evaluate workflow on main gets only that workflow's jobs", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "owner-token", branches: { main: {} }, ownerType: "Organization" });
    fake.orgOwners.add("octo-admin");
    const group = fake.runners.groups[0]!;
    fake.runners.groups.push({
      ...group,
      id: 7,
      name: "crucible-evaluate",
      default: false,
      visibility: "selected",
      repositoryIds: [1],
      allowsPublicRepositories: true,
      restrictedToWorkflows: true,
      selectedWorkflows: ["octo/lab/.github/workflows/evaluate.yml@main"],
    });
    const other = fake.runners.queueJob({ workflowRef: "octo/lab/.github/workflows/pr.yml@refs/pull/3/merge", labels: LABELS });
    const fromBranch = fake.runners.queueJob({ workflowRef: "octo/lab/.github/workflows/evaluate.yml@refs/heads/feature", labels: LABELS });
    const evaluate = fake.runners.queueJob({ workflowRef: EVALUATE, labels: LABELS });
    const h = await host("owner-token");

    const run = startSupervisor(["--org", "octo", "--runner-group", "crucible-evaluate", "--once", ...h.args]);
    expect(await run.exited, run.output()).toBe(0);
    expect(evaluate.status).toBe("completed");
    expect([other.status, fromBranch.status]).toEqual(["queued", "queued"]);
    const runner = fake.runners.registered[0]!;
    expect(runner.groupId).toBe(7);
    expect(fake.runners.whyNot(runner, other)).toMatch(/restricted to octo\/lab\/.github\/workflows\/evaluate.yml@main/);
    expect(fake.requests.filter((r) => r.operationId).map((r) => r.operationId)).toEqual([
      "actions/list-self-hosted-runner-groups-for-org",
      "actions/generate-runner-jitconfig-for-org",
      "actions/delete-self-hosted-runner-from-org",
    ]);
    expect(fake.violations).toEqual([]);
  });

  it("refuses to register without a group it can find, or with a token that is not an admin's", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} }, ownerType: "Organization" });
    const writer = fake.addUser("writer", "write");
    fake.orgOwners.add("octo-admin");
    let h = await host("admin-token");
    let run = startSupervisor(["--org", "octo", "--once", ...h.args]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('no runner group "crucible-evaluate"; create it with runner-setup/configure-org.mjs');

    h = await host(writer);
    run = startSupervisor(["--repo", "octo/lab", "--once", ...h.args]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("Must have admin rights to Repository");
    expect(fake.runners.registered).toEqual([]);
    expect((await h.events()).map((e) => e.event)).toEqual(["gc", "doctor"]);
  });

  it("removes the registration of a runner that exits before it gets a job, and passes on its exit code", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} } });
    const h = await host("admin-token", "#!/bin/sh\necho 'runner: cannot connect' >&2\nexit 3\n");
    const run = startSupervisor(["--repo", "octo/lab", "--once", ...h.args]);
    expect(await run.exited, run.output()).toBe(3);
    expect(fake.runners.registered).toHaveLength(1);
    expect(fake.runners.runners.size).toBe(0);
    expect(run.output()).toContain("ended without finishing a job");
    expect(fake.violations).toEqual([]);
  });

  it("a JIT configuration starts one session only: the same configuration a second time is refused", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} } });
    const h = await host("admin-token");
    fake.runners.queueJob({ workflowRef: EVALUATE, labels: LABELS });
    const response = await fetch(`${fake.url}/repos/octo/lab/actions/runners/generate-jitconfig`, {
      method: "POST",
      headers: { authorization: "token admin-token", "content-type": "application/json" },
      body: JSON.stringify({ name: "manual", runner_group_id: 1, labels: LABELS }),
    });
    const { encoded_jit_config: config } = (await response.json()) as { encoded_jit_config: string };
    const env = { PATH: process.env.PATH, ACTIONS_RUNNER_INPUT_JITCONFIG: config };
    const runOnce = () => promisify(execFile)(path.join(h.runnerDir, "run.sh"), [], { env });
    await runOnce();
    await expect(runOnce()).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("used already or has been deleted") });
    expect((await h.events()).map((e) => e.event)).toEqual(["runner-started", "session", "job", "runner-started", "session-refused"]);
  });

  it.skipIf(process.getuid?.() !== 0)("--run-as runs the runner as that user, with the user's groups", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} } });
    const h = await host("admin-token");
    const nobody = 65534;
    await chown(h.dir, nobody, nobody);
    await chown(h.runnerDir, nobody, nobody);
    await chmod(h.dir, 0o755);
    // gc runs as root, the runner as nobody: both record into one file.
    await writeFile(path.join(h.dir, "events.jsonl"), "", { mode: 0o666 });
    await chmod(path.join(h.dir, "events.jsonl"), 0o666);
    fake.runners.queueJob({ workflowRef: EVALUATE, labels: LABELS });
    const run = startSupervisor(["--repo", "octo/lab", "--once", "--run-as", "nobody", ...h.args]);
    expect(await run.exited, run.output()).toBe(0);
    const started = (await h.events()).find((e) => e.event === "runner-started")!;
    expect([started.uid, started.groups]).toEqual([nobody, [nobody]]);
    expect(run.output()).toContain("setpriv --reuid 65534 --regid 65534 --init-groups --");
  });

  it("--dry-run prints one cycle and makes no request; its API call is one GitHub describes", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin-token", branches: { main: {} }, ownerType: "Organization" });
    fake.orgOwners.add("octo-admin");
    const h = await host("unused");
    const args = h.args.map((a) => (a === fake!.url ? "http://127.0.0.1:9" : a));
    const { stdout } = await promisify(execFile)(node, [supervisorScript, "--org", "octo", "--gpu", "--dry-run", ...args], {
      env: { PATH: process.env.PATH },
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
    type Json = Record<string, any>;
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Json);
    const steps = lines.map((l) => l.step ?? `${l.method} ${l.path}`);
    expect(steps).toEqual(["clear", "gc", "doctor", "POST /orgs/octo/actions/runners/generate-jitconfig", "start", "deregister"]);
    expect(lines[3]!.body).toMatchObject({ labels: [...LABELS, "gpu"], work_folder: "_work" });
    const runnerEnv = lines[4]!.env.filter((k: string) => k !== "RUNNER_ALLOW_RUNASROOT");
    expect(runnerEnv).toEqual(["ACTIONS_RUNNER_INPUT_JITCONFIG", "HOME", "PATH", "RUNNER_MANUALLY_TRAP_SIG"]);
    expect(fake.requests).toEqual([]);
    expect(await h.events()).toEqual([]);

    // Replayed against the double with the group's real id, the call is valid.
    const call = lines[3]!;
    await fetch(`${fake.url}${call.path}`, {
      method: "POST",
      headers: { authorization: "token admin-token", "content-type": "application/json" },
      body: JSON.stringify({ ...call.body, runner_group_id: 1 }),
    });
    expect(fake.requests.map((r) => `${r.operationId} ${r.status}`)).toEqual(["actions/generate-runner-jitconfig-for-org 201"]);
    expect(fake.violations).toEqual([]);
  });
});
