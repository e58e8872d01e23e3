// runner-setup/install-runner.mjs on a host folder (--root): what it writes, what it asks systemd to do
// (systemctl is a recording stand-in: this machine has no init system), that --dry-run changes nothing,
// and that a second run on a configured host changes nothing. The rendered unit is checked by
// systemd-analyze, which reads it as systemd would.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import { binDir, repoRoot } from "./support/repo.js";

const installer = path.join(repoRoot, "runner-setup/install-runner.mjs");
const run = promisify(execFile);

const SYSTEMCTL = `#!/usr/bin/env node
const fs = require("node:fs");
const file = require("node:path").join(__dirname, "..", "systemctl.json");
const state = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : { enabled: [], active: [], calls: [] };
const [verb, ...rest] = process.argv.slice(2);
const unit = rest.filter((a) => !a.startsWith("--"))[0];
const drop = (list) => list.filter((u) => u !== unit);
let code = 0;
if (verb === "is-enabled") code = state.enabled.includes(unit) ? 0 : 1;
else if (verb === "is-active") code = state.active.includes(unit) ? 0 : 1;
else {
  state.calls.push([verb, ...rest].join(" "));
  const now = rest.includes("--now");
  if (verb === "enable") state.enabled = [...drop(state.enabled), unit];
  if (verb === "disable") state.enabled = drop(state.enabled);
  if ((verb === "enable" && now) || verb === "start" || verb === "restart") state.active = [...drop(state.active), unit];
  if ((verb === "disable" && now) || verb === "stop") state.active = drop(state.active);
}
fs.writeFileSync(file, JSON.stringify(state));
process.exit(code);
`;

let dir: string;
let root: string;
let dist: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "crucible-install-"));
  root = path.join(dir, "root");
  dist = path.join(dir, "actions-runner");
  await mkdir(path.join(dir, "bin"));
  await writeFile(path.join(dir, "bin/systemctl"), SYSTEMCTL);
  await chmod(path.join(dir, "bin/systemctl"), 0o755);
  await mkdir(path.join(dist, "bin"), { recursive: true });
  await writeFile(path.join(dist, "run.sh"), "#!/bin/bash\n");
  await writeFile(path.join(dist, "bin/Runner.Listener"), "listener v1\n");
  await writeFile(path.join(dir, "token"), "github_pat_example\n");
});

async function install(...args: string[]): Promise<string> {
  const env = { PATH: `${path.join(dir, "bin")}:${process.env.PATH}` };
  const { stdout } = await run(path.join(binDir, "node"), [installer, "--root", root, "--runner-dist", dist, ...args], { env });
  return stdout;
}

async function systemctl(): Promise<{ enabled: string[]; active: string[]; calls: string[] }> {
  return JSON.parse(await readFile(path.join(dir, "systemctl.json"), "utf8").catch(() => '{"enabled":[],"active":[],"calls":[]}'));
}

/** Every file under the root with its mode and modification time. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (relative: string) => {
    for (const entry of await readdir(path.join(root, relative), { withFileTypes: true })) {
      const rel = path.join(relative, entry.name);
      const info = await stat(path.join(root, rel));
      out[rel] = `${(info.mode & 0o777).toString(8)} ${info.mtimeMs}`;
      if (entry.isDirectory()) await walk(rel);
    }
  };
  await walk(".");
  return out;
}

const ARGS = ["--repo", "octo/lab", "--gpu", "--slots", "2", "--name", "gpu-host", "--token-file"];

describe("runner-setup/install-runner.mjs", () => {
  it("installs the service for each slot; --dry-run prints the same and changes nothing; a second run changes nothing", async () => {
    await mkdir(path.join(root, "run/systemd/system"), { recursive: true });
    const before = await snapshot();
    const dry = await install(...ARGS, path.join(dir, "token"), "--dry-run");
    const wouldDo = dry.trim().split("\n");
    expect(wouldDo).toEqual([
      "would write /etc/crucible/runner.env",
      "would write /etc/crucible/runner-token (from --token-file; not shown)",
      "would write /etc/systemd/system/crucible-runner@.service",
      `would copy the runner of slot 1 in /var/lib/crucible-runner/1 (from ${dist})`,
      `would copy the runner of slot 2 in /var/lib/crucible-runner/2 (from ${dist})`,
      "would write /var/lib/crucible-runner/1/.env (job-started hook)",
      "would write /var/lib/crucible-runner/2/.env (job-started hook)",
      "would create the artifact store /var/lib/crucible/artifacts",
      "would systemctl daemon-reload",
      "would enable and start crucible-runner@1.service",
      "would enable and start crucible-runner@2.service",
    ]);
    expect(dry).not.toContain("github_pat_example");
    expect(await snapshot()).toEqual(before);
    expect((await systemctl()).calls).toEqual([]);

    const done = await install(...ARGS, path.join(dir, "token"));
    expect(done.trim().split("\n")).toEqual(wouldDo.map((line) => `${line.slice("would ".length)}: done`));
    expect(await readFile(path.join(root, "etc/crucible/runner.env"), "utf8")).toBe(
      [
        "# Written by runner-setup/install-runner.mjs; run it again to change these.",
        "CRUCIBLE_RUNNER_NAME=gpu-host",
        'CRUCIBLE_RUNNER_OPTIONS="--repo octo/lab --gpu"',
        `CRUCIBLE_POLICY=${repoRoot.replace(/\/$/, "")}/runner-setup/policy.gpu.json`,
        "CRUCIBLE_ARTIFACT_STORE=/var/lib/crucible/artifacts",
        "",
      ].join("\n"),
    );
    expect((await stat(path.join(root, "etc/crucible/runner-token"))).mode & 0o777).toBe(0o600);
    const unit = await readFile(path.join(root, "etc/systemd/system/crucible-runner@.service"), "utf8");
    expect(unit).not.toMatch(/@NODE@|@REPO@/);
    expect(unit).toContain(`${repoRoot.replace(/\/$/, "")}/runner-setup/jit-runner.mjs`);
    const listener = (slot: string) => readFile(path.join(root, "var/lib/crucible-runner", slot, "bin/Runner.Listener"), "utf8");
    expect([await listener("1"), await listener("2")]).toEqual(["listener v1\n", "listener v1\n"]);
    // The runner reads its slot's .env: every job first passes runner-setup/job-started.sh.
    const slotEnv = await readFile(path.join(root, "var/lib/crucible-runner/2/.env"), "utf8");
    expect(slotEnv).toMatch(
      new RegExp(
        `^ACTIONS_RUNNER_HOOK_JOB_STARTED=${repoRoot.replace(/\/$/, "")}/runner-setup/job-started\\.sh\nCRUCIBLE_NODE=/\\S+/node\n$`,
      ),
    );
    expect(await systemctl()).toMatchObject({
      calls: ["daemon-reload", "enable --now crucible-runner@1.service", "enable --now crucible-runner@2.service"],
      active: ["crucible-runner@1.service", "crucible-runner@2.service"],
    });

    const configured = await snapshot();
    expect(await install(...ARGS, path.join(dir, "token"))).toBe("install-runner: nothing to change; this host is configured\n");
    expect(await snapshot()).toEqual(configured);
    expect((await systemctl()).calls).toHaveLength(3);
  });

  it("follows what changed: a new runner release restarts its slots, fewer slots stop the rest, a stopped slot is started", async () => {
    await mkdir(path.join(root, "run/systemd/system"), { recursive: true });
    await install(...ARGS, path.join(dir, "token"));
    await writeFile(path.join(dist, "bin/Runner.Listener"), "listener v2, a bigger release\n");
    await run(path.join(dir, "bin/systemctl"), ["stop", "crucible-runner@2.service"]);
    const out = await install("--repo", "octo/lab", "--gpu", "--slots", "1", "--name", "gpu-host");
    expect(out.trim().split("\n")).toEqual([
      `stop the slot and replace the runner of slot 1 in /var/lib/crucible-runner/1 (from ${dist}): done`,
      "write /var/lib/crucible-runner/1/.env (job-started hook): done",
      "start crucible-runner@1.service: done",
      "stop and disable crucible-runner@2.service (beyond --slots 1): done",
    ]);
    const listener = await readFile(path.join(root, "var/lib/crucible-runner/1/bin/Runner.Listener"), "utf8");
    expect(listener).toBe("listener v2, a bigger release\n");
    const state = await systemctl();
    expect(state.calls.slice(3)).toEqual([
      "stop crucible-runner@2.service",
      "stop crucible-runner@1.service",
      "start crucible-runner@1.service",
      "disable --now crucible-runner@2.service",
    ]);
    expect([state.enabled, state.active]).toEqual([["crucible-runner@1.service"], ["crucible-runner@1.service"]]);
  });

  it("--run-as: the user gets the docker group and every folder it needs, also after its runner copy is replaced", async () => {
    await install(...ARGS, path.join(dir, "token"));
    await writeFile(path.join(dist, "bin/Runner.Listener"), "listener v3\n");
    // Dry run only: applying would change this machine's user database.
    const out = await install("--repo", "octo/lab", "--gpu", "--slots", "2", "--name", "gpu-host", "--run-as", "nobody", "--dry-run");
    const groups = (await run("id", ["-nG", "nobody"])).stdout.split(/\s+/);
    expect(
      out
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("would ") && /nobody|docker|runner\.env/.test(l)),
    ).toEqual([
      ...(groups.includes("docker") ? [] : ["would add nobody to the docker group"]),
      "would update /etc/crucible/runner.env",
      "would give /var/lib/crucible/artifacts to nobody",
      "would give /var/lib/crucible-runner/1 to nobody",
      "would give /var/lib/crucible-runner/2 to nobody",
    ]);
  });

  it("without systemd it installs the files and says how to start a slot by hand", async () => {
    const out = await install("--org", "octo", "--runner-group", "gpu-evaluate", "--token-file", path.join(dir, "token"), "--name", "box");
    expect(out).toContain("This host has no systemd: nothing starts the runners.");
    const command = [
      "--runner-dir /var/lib/crucible-runner/1 --name box-1",
      "--token-file /etc/crucible/runner-token --org octo --runner-group gpu-evaluate",
    ].join(" ");
    expect(out).toContain(command);
    expect(existsSync(path.join(root, "etc/systemd/system/crucible-runner@.service"))).toBe(true);
    expect((await systemctl()).calls).toEqual([]);
  });

  it("refuses what the supervisor would refuse, before changing anything", async () => {
    await expect(install("--repo", "octo/lab", "--runner-group", "x", "--token-file", path.join(dir, "token"))).rejects.toMatchObject({
      stderr: expect.stringContaining("runner groups are an organisation feature"),
    });
    const token = path.join(dir, "token");
    const notAName = expect.stringContaining("--repo must be owner/name");
    await expect(install("--repo", "octo/lab;rm -rf /", "--token-file", token)).rejects.toMatchObject({ stderr: notAName });
    const noToken = expect.stringContaining("--token-file FILE is required on the first install");
    await expect(install("--repo", "octo/lab")).rejects.toMatchObject({ stderr: noToken });
    expect(existsSync(root)).toBe(false);
  });

  it.skipIf(!existsSync("/usr/bin/systemd-analyze"))("systemd reads the rendered unit without a complaint", async () => {
    await install(...ARGS, path.join(dir, "token"));
    const units = path.join(dir, "units");
    await mkdir(units);
    const unit = await readFile(path.join(root, "etc/systemd/system/crucible-runner@.service"));
    await writeFile(path.join(units, "crucible-runner@.service"), unit);
    const { stdout, stderr } = await run("systemd-analyze", ["verify", path.join(units, "crucible-runner@1.service")]);
    expect(stdout + stderr).toBe("");
  });
});
