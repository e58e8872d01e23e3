// No sandbox outlives its owner: every sandbox records the process that owns it (boot id, PID namespace,
// pid, start time); a runner killed with SIGKILL leaves its sandbox running, and the next run removes it
// before it starts its own. Only processes and containers this file creates are touched.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import {
  currentProcess,
  loadPolicy,
  OWNER_LABELS,
  ownerLabels,
  ownerState,
  type ImageRef,
  type ProcessIdentity,
} from "../actions/lib/src/index.js";
import { collectGarbage, createScratch, DockerSandboxProvider, releaseScratch } from "../actions/lib/src/docker/index.js";
import { runAction } from "./support/action.js";
import { binDir, cliBin, experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const docker = new Docker();
const scope = `crucible.test-scope=owner-${randomBytes(4).toString("hex")}`;
const [scopeKey, scopeValue] = scope.split("=") as [string, string];
let self: ProcessIdentity;
let image: ImageRef;

beforeAll(async () => {
  self = (await currentProcess())!;
  const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  image = await new DockerSandboxProvider(policy.runtime, imagesDir, docker).prepareImage("base");
});

/** A process that existed and is gone now: its identity as a sandbox would have recorded it. */
async function goneProcess(): Promise<ProcessIdentity> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const stat = await readFile(`/proc/${child.pid}/stat`, "utf8");
  const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
  child.kill("SIGKILL");
  await exited;
  return { ...self, pid: child.pid!, startTime };
}

describe("ownerState", () => {
  it("knows this process as alive, an exited one as gone, and a reused pid as another process", async () => {
    expect(await ownerState(ownerLabels(self), self)).toEqual({ state: "alive", pid: process.pid });
    const gone = await goneProcess();
    const reason = `its owner process ${gone.pid} on this host is gone`;
    expect(await ownerState(ownerLabels(gone), self)).toEqual({ state: "gone", pid: gone.pid, reason });
    expect(await ownerState(ownerLabels({ ...self, startTime: "1" }), self)).toMatchObject({
      state: "gone",
      reason: expect.stringContaining("the pid now belongs to another process"),
    });
  });

  it("takes a zombie for gone", async () => {
    // Python forks a child that exits at once and is never waited for: a zombie until Python ends.
    const program = "import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)";
    const parent = spawn("/usr/bin/python3", ["-c", program]);
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once("data", (c: Buffer) => resolve(c.toString()))));
      for (let i = 0; i < 50 && !(await readFile(`/proc/${pid}/stat`, "utf8")).includes(") Z "); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const zombie = { ...self, pid, startTime: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]! };
      const reason = `its owner process ${pid} on this host has exited`;
      expect(await ownerState(ownerLabels(zombie), self)).toEqual({ state: "gone", pid, reason });
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("judges nothing for another boot, another PID namespace, or no owner at all", async () => {
    const gone = await goneProcess();
    expect(await ownerState(ownerLabels({ ...gone, bootId: "00000000-0000-0000-0000-000000000000" }), self)).toEqual({ state: "unknown" });
    expect(await ownerState(ownerLabels({ ...gone, pidNamespace: "pid:[1]" }), self)).toEqual({ state: "unknown" });
    expect(await ownerState({}, self)).toEqual({ state: "unknown" });
    expect(await ownerState(ownerLabels(gone), undefined)).toEqual({ state: "unknown" });
  });
});

describe("crucible gc and the owner", () => {
  type HostConfig = Partial<Docker.ContainerCreateOptions["HostConfig"]>;
  async function sandbox(owner: ProcessIdentity | undefined, start: boolean, extra: HostConfig = {}) {
    const deadline = new Date(Date.now() + 3_600_000).toISOString();
    const container = await docker.createContainer({
      Image: image.id,
      Cmd: ["sleep", "600"],
      Labels: {
        "crucible.managed": "true",
        [scopeKey]: scopeValue,
        "crucible.run-id": "20260101T000000Z-0a0b0c",
        "crucible.deadline": deadline,
        ...ownerLabels(owner),
      },
      HostConfig: { Runtime: "runsc", NetworkMode: "none", ...extra },
    });
    if (start) await container.start();
    return container;
  }
  const exists = (c: Docker.Container) =>
    c.inspect().then(
      () => true,
      () => false,
    );

  it("removes a running sandbox whose owner is gone, with its scratch space, and keeps the others", async () => {
    const scratch = await createScratch(await mkdtemp(path.join(os.tmpdir(), "crucible-owner-")), "20260101T000000Z-0a0b0c", 1024 * 1024);
    const orphan = await sandbox(await goneProcess(), true, { Binds: [`${scratch.outputDir}:/output`] });
    const mine = await sandbox(self, false);
    const elsewhere = await sandbox({ ...(await goneProcess()), bootId: "00000000-0000-0000-0000-000000000000" }, true);
    const unowned = await sandbox(undefined, true);
    try {
      const report = await collectGarbage(docker, { scope });
      const reason = expect.stringMatching(/^its owner process \d+ on this host is gone$/);
      expect(report.containers.map((c) => [c.id, c.reason])).toEqual([[orphan.id, reason]]);
      expect(await exists(orphan)).toBe(false);
      expect(existsSync(path.dirname(scratch.outputDir))).toBe(false);
      expect(await readFile("/proc/self/mounts", "utf8")).not.toContain(scratch.outputDir);
      // Exited, but its owner (this process) is alive and may still be collecting from it.
      expect(await exists(mine)).toBe(true);
      expect(await exists(elsewhere)).toBe(true);
      expect(await exists(unowned)).toBe(true);
    } finally {
      for (const c of [orphan, mine, elsewhere, unowned]) await c.remove({ force: true }).catch(() => undefined);
      if (existsSync(path.dirname(scratch.outputDir))) await scratch.dispose();
    }
  });

  it("frees only scratch folders shaped as createScratch makes them, for the sandbox's own run", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-owner-"));
    await mkdir(path.join(dir, "crucible", "20260101T000000Z-0a0b0c", "output"), { recursive: true });
    expect(await releaseScratch(path.join(dir, "crucible", "20260101T000000Z-0a0b0c", "output"), "20260101T000000Z-ffffff")).toBe(false);
    expect(await releaseScratch(path.join(dir, "elsewhere", "20260101T000000Z-0a0b0c", "output"), "20260101T000000Z-0a0b0c")).toBe(false);
    expect(await releaseScratch(path.join(dir, "crucible", "20260101T000000Z-0a0b0c", "data"), "20260101T000000Z-0a0b0c")).toBe(false);
    expect(existsSync(path.join(dir, "crucible", "20260101T000000Z-0a0b0c"))).toBe(true);
    expect(await releaseScratch(path.join(dir, "crucible", "20260101T000000Z-0a0b0c", "output"), "20260101T000000Z-0a0b0c")).toBe(true);
    expect(existsSync(path.join(dir, "crucible", "20260101T000000Z-0a0b0c"))).toBe(false);
  });
});

describe("a runner killed with SIGKILL", () => {
  const slow = "import time\nfor i in range(600):\n    print(f'step {i}', flush=True)\n    time.sleep(0.1)\n";

  /** Waits until the child has printed `text`, then returns its sandbox (found by the owner pid label). */
  async function sandboxOf(child: ChildProcess, text: RegExp): Promise<Docker.ContainerInfo> {
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (text.test(out)) resolve();
      });
      child.on("exit", () => reject(new Error(`exited before printing ${text}:\n${out}`)));
    });
    const [info] = await docker.listContainers({ filters: { label: [`${OWNER_LABELS.pid}=${child.pid}`] } });
    return info!;
  }

  async function killed(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  it("leaves its sandbox running until the next run starts, which removes it first (action, then CLI killed)", async () => {
    const slowYaml = experimentYaml("slow", { resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 300s" });
    const slowFile = await makeExperiment("slow", { "experiment.yaml": slowYaml, "main.py": slow });
    const workspace = path.resolve(slowFile, "../../..");
    await makeExperiment("quick", { "experiment.yaml": experimentYaml("quick"), "main.py": "print('quick run')\n" }, workspace);
    const runnerTemp = await mkdtemp(path.join(os.tmpdir(), "crucible-runner-temp-"));
    const files = Object.fromEntries(["output", "summary", "state"].map((n) => [n, path.join(runnerTemp, n)]));
    for (const f of Object.values(files)) await writeFile(f, "");
    const env = {
      PATH: `${binDir}:${process.env.PATH}`,
      GITHUB_WORKSPACE: workspace,
      GITHUB_OUTPUT: files.output!,
      GITHUB_STEP_SUMMARY: files.summary!,
      GITHUB_STATE: files.state!,
      RUNNER_TEMP: runnerTemp,
      INPUT_EXPERIMENT: "experiments/slow/experiment.yaml",
      GITHUB_RUN_ID: `13${Date.now()}`,
    };

    // 1. The run action, killed outright mid-run: nothing of it runs anymore, its sandbox still does.
    const actionEntry = path.join(repoRoot, "actions/run/dist/index.js");
    const actionRun = spawn(path.join(binDir, "node"), [actionEntry], { env, stdio: ["ignore", "pipe", "pipe"] });
    const first = await sandboxOf(actionRun, /step 3$/m);
    expect(first.Labels[OWNER_LABELS.startTime]).toMatch(/^\d+$/);
    const scratch = first.Mounts.find((m) => m.Destination === "/output")!.Source;
    expect(scratch.startsWith(path.join(runnerTemp, "crucible"))).toBe(true);
    await killed(actionRun);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await docker.getContainer(first.Id).inspect()).State.Running).toBe(true);

    // 2. The next run (the CLI) removes it, and its scratch space, before it creates its own sandbox.
    const quick = "experiments/quick/experiment.yaml";
    const next = spawnSync(path.join(binDir, "node"), [cliBin, "run", quick], { cwd: workspace, encoding: "utf8", timeout: 300_000 });
    expect(next.status, next.stderr).toBe(0);
    const removal = (sandbox: Docker.ContainerInfo, owner: ChildProcess) =>
      `removed sandbox ${sandbox.Id.slice(0, 12)} of run ${sandbox.Labels["crucible.run-id"]}: ` +
      `its owner process ${owner.pid} on this host is gone`;
    expect(next.stdout).toContain(removal(first, actionRun));
    expect(next.stdout.indexOf(removal(first, actionRun))).toBeLessThan(next.stdout.indexOf("==> create sandbox"));
    await expect(docker.getContainer(first.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(existsSync(scratch)).toBe(false);
    expect(await readFile("/proc/self/mounts", "utf8")).not.toContain(scratch);

    // 3. The other way round: the CLI killed, the run action next.
    const cliRun = spawn(path.join(binDir, "node"), [cliBin, "run", "experiments/slow/experiment.yaml"], {
      cwd: workspace,
      env: { ...process.env, RUNNER_TEMP: runnerTemp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const second = await sandboxOf(cliRun, /step 3$/m);
    await killed(cliRun);
    expect((await docker.getContainer(second.Id).inspect()).State.Running).toBe(true);
    const action = await runAction(actionEntry, { inputs: { experiment: quick }, env: { GITHUB_WORKSPACE: workspace } });
    expect(action.code, action.stdout).toBe(0);
    expect(action.stdout).toContain(removal(second, cliRun));
    await expect(docker.getContainer(second.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Both killed runs' scratch folders are gone too.
    expect(await readdir(path.join(runnerTemp, "crucible"))).toEqual([]);
  });
});
