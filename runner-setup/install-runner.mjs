#!/usr/bin/env node
// Installs the runner service on a host that setup.sh has prepared (Docker, runsc, images), idempotently:
//   - /etc/crucible/runner.env: whom the runners register with and how (the service's environment);
//   - /etc/crucible/runner-token (mode 0600), copied from --token-file;
//   - /etc/systemd/system/crucible-runner@.service, from runner-setup/systemd/ with this checkout's paths;
//   - /var/lib/crucible-runner/<slot>: a copy of the unpacked GitHub Actions runner for each slot (one
//     runner process, so one job at a time, per slot), copied again only when the unpacked runner changed;
//   - <slot>/.env: the runner's job-started hook (runner-setup/job-started.sh), which refuses every job but
//     the evaluate workflow's evaluate job on the default branch;
//   - with --run-as: the user (a system user in the docker group) and its ownership of those folders;
//   - with systemd: daemon-reload when the unit changed, every slot enabled and running, and slots beyond
//     --slots stopped and disabled. Without an init system it says how to start a slot by hand.
// --dry-run prints what would change and changes nothing; run again on a configured host, it changes
// nothing. Every command is run with an argument list, never through a shell.
//
// Usage (as root):
//   node runner-setup/install-runner.mjs --repo owner/name | --org ORG [--runner-group NAME]
//        --runner-dist DIR [--token-file FILE] [--slots N] [--gpu] [--run-as USER] [--name NAME] [--dry-run]
// --runner-dist: the GitHub Actions runner release, unpacked (download it and check its sha256 as GitHub's
// "New self-hosted runner" page says; this host cannot fetch it itself). --root DIR installs below DIR
// instead of / (used by the tests).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseArgs as parseSupervisorArgs } from "./jit-runner.mjs";

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const UNIT = "crucible-runner@.service";
const UNIT_TEMPLATE = path.join(repoRoot, "runner-setup/systemd", UNIT);
/** Paths written into the unit file: plain absolute paths, which systemd reads as they are. */
const UNIT_PATH = /^\/[A-Za-z0-9_.\/+-]*$/;
const SLOTS_DIR = "/var/lib/crucible-runner";
const ARTIFACT_STORE = "/var/lib/crucible/artifacts";
const DIST_MARK = ".crucible-runner-dist";

export function parseArgs(argv) {
  const options = {
    slots: 1,
    root: "/",
    dryRun: false,
    name: os
      .hostname()
      .replace(/[^A-Za-z0-9_.-]/g, "-")
      .slice(0, 48),
  };
  const passed = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--repo" || arg === "--org" || arg === "--runner-group" || arg === "--run-as") {
      const v = value();
      passed.push(arg, v);
      if (arg === "--run-as") options.runAs = v;
    } else if (arg === "--gpu") {
      passed.push(arg);
      options.gpu = true;
    } else if (arg === "--runner-dist") options.runnerDist = path.resolve(value());
    else if (arg === "--token-file") options.tokenFile = path.resolve(value());
    else if (arg === "--slots") options.slots = Number(value());
    else if (arg === "--name") options.name = value();
    else if (arg === "--root") options.root = path.resolve(value());
    else if (arg === "--dry-run") options.dryRun = true;
    else throw new Error(`unknown option ${arg}`);
  }
  if (!Number.isInteger(options.slots) || options.slots < 1 || options.slots > 64) throw new Error("--slots must be 1 to 64");
  if (!options.runnerDist) throw new Error("--runner-dist DIR is required: the GitHub Actions runner release, unpacked");
  // The service passes these options on to jit-runner.mjs: they must be what it accepts, word by word.
  parseSupervisorArgs([...passed, "--runner-dir", "/", "--name", `${options.name}-${options.slots}`], {});
  options.supervisorOptions = passed;
  for (const [what, value] of [
    ["this checkout", repoRoot],
    ["node", process.execPath],
  ]) {
    if (!UNIT_PATH.test(value)) throw new Error(`the path of ${what} (${value}) has characters a unit file would need quoted; move it`);
  }
  return options;
}

/** Every change this host needs, in order: {what, apply}. An empty list: the host is configured. */
export async function plan(options) {
  const at = (p) => path.join(options.root, p);
  const changes = [];
  const change = (what, apply) => changes.push({ what, apply });
  const file = async (target, content, mode, label = target) => {
    const current = await readFile(at(target), "utf8").catch(() => undefined);
    const currentMode = current === undefined ? undefined : (await stat(at(target))).mode & 0o777;
    if (current === content && currentMode === mode) return false;
    changes.push({
      what: `${current === undefined ? "write" : "update"} ${label}`,
      async apply() {
        await mkdir(path.dirname(at(target)), { recursive: true });
        await writeFile(at(target), content, { mode });
        await chmod(at(target), mode);
      },
    });
    return true;
  };

  if (!existsSync(path.join(options.runnerDist, "run.sh"))) throw new Error(`${options.runnerDist} has no run.sh: unpack the runner there`);
  const systemd = existsSync(at("/run/systemd/system"));
  const user = options.runAs ? await lookUpUser(options.runAs) : undefined;
  if (options.runAs && !user) {
    if (options.root !== "/") throw new Error(`no user ${options.runAs} on this host`);
    const args = ["--system", "--user-group", "--groups", "docker", "--home-dir", SLOTS_DIR, "--shell", "/usr/sbin/nologin", options.runAs];
    change(`create the system user ${options.runAs} (group docker, home ${SLOTS_DIR})`, () => run("useradd", args));
  } else if (user && !user.groups.includes("docker")) {
    change(`add ${options.runAs} to the docker group`, () => run("usermod", ["--append", "--groups", "docker", options.runAs]));
  }

  const policy = path.join(repoRoot, "runner-setup", options.gpu ? "policy.gpu.json" : "policy.json");
  const env = [
    "# Written by runner-setup/install-runner.mjs; run it again to change these.",
    `CRUCIBLE_RUNNER_NAME=${options.name}`,
    `CRUCIBLE_RUNNER_OPTIONS="${options.supervisorOptions.join(" ")}"`,
    `CRUCIBLE_POLICY=${policy}`,
    `CRUCIBLE_ARTIFACT_STORE=${ARTIFACT_STORE}`,
    "",
  ].join("\n");
  await file("/etc/crucible/runner.env", env, 0o644);
  const token = "/etc/crucible/runner-token";
  if (options.tokenFile) await file(token, await readFile(options.tokenFile, "utf8"), 0o600, `${token} (from --token-file; not shown)`);
  else if (!existsSync(at(token))) throw new Error("--token-file FILE is required on the first install: the token that registers runners");
  const unit = (await readFile(UNIT_TEMPLATE, "utf8")).replaceAll("@NODE@", process.execPath).replaceAll("@REPO@", repoRoot);
  const unitChanged = await file(`/etc/systemd/system/${UNIT}`, unit, 0o644);

  const fingerprint = await distFingerprint(options.runnerDist);
  const owned = [ARTIFACT_STORE];
  const copied = new Set();
  const replaced = new Set();
  for (let slot = 1; slot <= options.slots; slot++) {
    const dir = `${SLOTS_DIR}/${slot}`;
    owned.push(dir);
    const mark = await readFile(at(path.join(dir, DIST_MARK)), "utf8").catch(() => "");
    if (mark === fingerprint) continue;
    copied.add(dir);
    if (mark) replaced.add(slot);
    change(`${mark ? "stop the slot and replace" : "copy"} the runner of slot ${slot} in ${dir} (from ${options.runnerDist})`, async () => {
      // A runner's files are not replaced under it: the slot is started again below.
      if (mark && systemd) await run("systemctl", ["stop", `crucible-runner@${slot}.service`]);
      await rm(at(dir), { recursive: true, force: true });
      await cp(options.runnerDist, at(dir), { recursive: true, preserveTimestamps: true });
      await writeFile(at(path.join(dir, DIST_MARK)), fingerprint);
    });
  }
  // The runner reads <slot>/.env at start: its job-started hook, and the Node that runs it.
  const runnerEnv = `ACTIONS_RUNNER_HOOK_JOB_STARTED=${path.join(repoRoot, "runner-setup", "job-started.sh")}\nCRUCIBLE_NODE=${process.execPath}\n`;
  for (let slot = 1; slot <= options.slots; slot++) {
    const dir = `${SLOTS_DIR}/${slot}`;
    const target = path.join(dir, ".env");
    // A slot copied again above loses its .env, so it is written again after the copy.
    if (copied.has(dir)) change(`write ${target} (job-started hook)`, () => writeFile(at(target), runnerEnv, { mode: 0o644 }));
    else await file(target, runnerEnv, 0o644, `${target} (job-started hook)`);
  }
  if (!existsSync(at(ARTIFACT_STORE))) {
    change(`create the artifact store ${ARTIFACT_STORE}`, () => mkdir(at(ARTIFACT_STORE), { recursive: true }));
  }
  if (user || options.runAs) {
    for (const dir of owned) {
      const current = await stat(at(dir)).catch(() => undefined);
      if (current && user && current.uid === user.uid && !copied.has(dir)) continue;
      change(`give ${dir} to ${options.runAs}`, () => run("chown", ["-R", `${options.runAs}:`, at(dir)]));
    }
  }

  if (!systemd) return { changes, systemd };
  if (unitChanged) change("systemctl daemon-reload", () => run("systemctl", ["daemon-reload"]));
  const installed = (await readdir(at(SLOTS_DIR)).catch(() => [])).filter((n) => /^\d+$/.test(n)).map(Number);
  for (const slot of [...new Set([...installed, ...Array.from({ length: options.slots }, (_, i) => i + 1)])].sort((a, b) => a - b)) {
    const service = `crucible-runner@${slot}.service`;
    const enabled = await succeeds("systemctl", ["is-enabled", "--quiet", service]);
    const active = await succeeds("systemctl", ["is-active", "--quiet", service]);
    if (slot > options.slots) {
      const beyond = `stop and disable ${service} (beyond --slots ${options.slots})`;
      if (enabled || active) change(beyond, () => run("systemctl", ["disable", "--now", service]));
    } else if (!enabled) change(`enable and start ${service}`, () => run("systemctl", ["enable", "--now", service]));
    else if (!active || unitChanged || replaced.has(slot)) {
      const verb = active && !replaced.has(slot) ? "restart" : "start";
      change(`${verb} ${service}`, () => run("systemctl", [verb, service]));
    }
  }
  return { changes, systemd };
}

/** Paths, sizes and modification times of the unpacked runner: a changed release gives another fingerprint. */
async function distFingerprint(dir) {
  const hash = createHash("sha256");
  const walk = async (relative) => {
    for (const entry of (await readdir(path.join(dir, relative), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(relative, entry.name);
      const info = await stat(path.join(dir, rel));
      hash.update(`${rel}\0${entry.isDirectory() ? "d" : info.size}\0${Math.trunc(info.mtimeMs)}\n`);
      if (entry.isDirectory()) await walk(rel);
    }
  };
  await walk(".");
  return `${dir}\n${hash.digest("hex")}\n`;
}

async function lookUpUser(name) {
  const entry = await execFileAsync("getent", ["passwd", name]).catch(() => undefined);
  if (!entry) return undefined;
  const fields = entry.stdout.trim().split(":");
  const groups = await execFileAsync("id", ["-nG", name]).then((r) => r.stdout.trim().split(/\s+/));
  return { uid: Number(fields[2]), groups };
}

async function run(command, args) {
  await execFileAsync(command, args);
}

function succeeds(command, args) {
  return execFileAsync(command, args).then(
    () => true,
    () => false,
  );
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { changes, systemd } = await plan(options);
  if (changes.length === 0) process.stdout.write("install-runner: nothing to change; this host is configured\n");
  for (const change of changes) {
    if (options.dryRun) process.stdout.write(`would ${change.what}\n`);
    else {
      await change.apply();
      process.stdout.write(`${change.what}: done\n`);
    }
  }
  if (!systemd) {
    const command = ["node", path.join(repoRoot, "runner-setup/jit-runner.mjs"), "--runner-dir", `${SLOTS_DIR}/1`];
    command.push("--name", `${options.name}-1`, "--token-file", "/etc/crucible/runner-token", ...options.supervisorOptions);
    process.stdout.write(
      "This host has no systemd: nothing starts the runners. Start each slot yourself, " +
        `with the variables of /etc/crucible/runner.env in its environment:\n  ${command.join(" ")}\n`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`install-runner: ${error.message}\n`);
    process.exit(1);
  });
}
