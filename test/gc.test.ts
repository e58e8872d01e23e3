// crucible gc: leaked sandboxes and orphaned runsc processes, against the real Docker daemon.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPolicy, type ImageRef } from "../actions/lib/src/index.js";
import { collectGarbage, DockerSandboxProvider, runscProcesses } from "../actions/lib/src/docker/index.js";
import { imagesDir, repoRoot } from "./support/repo.js";

const docker = new Docker();
let image: ImageRef;
// Other tests share this Docker daemon: gc here only ever considers this file's own containers.
const scope = `crucible.test-scope=gc-${randomBytes(4).toString("hex")}`;
const [scopeKey, scopeValue] = scope.split("=") as [string, string];

beforeAll(async () => {
  const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
  image = await new DockerSandboxProvider(policy.runtime, imagesDir, docker).prepareImage("base");
});

async function sandbox(labels: Record<string, string>, start: boolean): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: image.id,
    Cmd: ["sleep", "600"],
    Labels: { "crucible.managed": "true", [scopeKey]: scopeValue, ...labels },
    HostConfig: { Runtime: "runsc", NetworkMode: "none" },
  });
  if (start) await container.start();
  return container;
}

const exists = (c: Docker.Container) =>
  c.inspect().then(
    () => true,
    () => false,
  );

describe("collectGarbage", () => {
  it("removes exited sandboxes and ones past their deadline, and keeps live ones", async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const exited = await sandbox({ "crucible.deadline": future }, false);
    const overdue = await sandbox({ "crucible.deadline": past }, true);
    const live = await sandbox({ "crucible.deadline": future }, true);
    const foreign = await docker.createContainer({ Image: image.id, Cmd: ["sleep", "1"], HostConfig: { NetworkMode: "none" } });
    try {
      const report = await collectGarbage(docker, { scope });
      const removed = new Map(report.containers.map((c) => [c.id, c.reason]));
      expect(removed.get(exited.id)).toBe("not running (created)");
      expect(removed.get(overdue.id)).toBe(`running past its deadline ${past}`);
      expect(removed.has(live.id)).toBe(false);
      expect(await exists(live)).toBe(true);
      expect(await exists(foreign)).toBe(true);
    } finally {
      await live.remove({ force: true });
      await foreign.remove({ force: true });
    }
  });

  it("with a job label removes exactly that job's sandboxes", async () => {
    const mine = await sandbox({ "crucible.github-job": "1-1-mine" }, true);
    const other = await sandbox(
      { "crucible.github-job": "2-1-other", "crucible.deadline": new Date(Date.now() + 3_600_000).toISOString() },
      true,
    );
    try {
      const report = await collectGarbage(docker, { label: "crucible.github-job=1-1-mine", scope });
      expect(report.containers.map((c) => c.id)).toEqual([mine.id]);
      expect(await exists(other)).toBe(true);
    } finally {
      await other.remove({ force: true });
    }
  });

  it("kills runsc processes whose container Docker no longer knows, and leaves a running sandbox's alone", async () => {
    const live = await sandbox({ "crucible.deadline": new Date(Date.now() + 3_600_000).toISOString() }, true);
    // A process shaped like the runsc-sandbox a failed start leaves behind: same name, a --log path naming a gone container.
    const ghostId = randomBytes(32).toString("hex");
    // Debian's own python3, which does not re-exec itself (a pyenv shim would).
    const orphan = spawn(
      "/usr/bin/python3",
      [
        "-c",
        "import time; time.sleep(600)",
        `--log=/var/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/${ghostId}/log.json`,
      ],
      {
        argv0: "runsc-sandbox",
        stdio: "ignore",
      },
    );
    const exited = new Promise((resolve) => orphan.on("exit", resolve));
    try {
      // Wait until the exec has happened and /proc shows the new command line.
      for (let i = 0; i < 50 && !(await readFile(`/proc/${orphan.pid}/cmdline`, "utf8").catch(() => "")).startsWith("runsc-sandbox"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const found = await runscProcesses();
      expect(found).toContainEqual({ pid: orphan.pid, command: "runsc-sandbox", containerId: ghostId });
      expect(found.some((p) => p.containerId === live.id)).toBe(true);
      const report = await collectGarbage(docker, { scope });
      expect(report.processes).toEqual([
        { pid: orphan.pid, command: "runsc-sandbox", reason: `its container ${ghostId.slice(0, 12)} no longer exists` },
      ]);
      await exited;
      expect((await live.inspect()).State.Running).toBe(true);
    } finally {
      orphan.kill("SIGKILL");
      await live.remove({ force: true });
    }
  });
});
