#!/usr/bin/env node
// Keeps one ephemeral, just-in-time GitHub Actions runner on this host, one job at a time. Each cycle:
//   1. clears what the last job left in the runner's folder (its work folder, the spent configuration);
//   2. runs `crucible gc`: leaked sandboxes, orphaned runsc processes, stored artifacts not used for
//      two weeks. A failing gc stops the cycle: the host takes no job it may not be clean for;
//   3. runs the host doctor (`crucible doctor --json`: runsc and its arguments, a real sandbox's kernel,
//      network, writable paths and limits, images, disk). A failing doctor stops the cycle too, with its
//      failed rows: the host takes no job it cannot sandbox;
//   4. asks GitHub for a just-in-time configuration (POST …/actions/runners/generate-jitconfig) with the
//      labels self-hosted, linux, gvisor (+ gpu), in the runner group (an organisation's group, or a
//      repository's default group);
//   5. starts the runner application (<runner-dir>/run.sh) with that configuration in its environment
//      (ACTIONS_RUNNER_INPUT_JITCONFIG, which the runner reads like --jitconfig, so it never appears on a
//      command line) and an environment built from an allow-list: the token that registers runners never
//      reaches the runner or its jobs. With --run-as, it runs as that user (setpriv, with the user's groups);
//   6. when the runner exits (a JIT runner takes exactly one job, then exits), removes its registration if
//      GitHub still has it (a runner that died before it got a job), and starts again at 1.
// SIGTERM or SIGINT: passed to the runner (which finishes or cancels its job), then the registration is
// removed and this exits. Nothing from GitHub or from options ever becomes part of a shell string.
//
// Usage (as root; see crucible-runner@.service):
//   node runner-setup/jit-runner.mjs --repo owner/name | --org ORG [--runner-group NAME] --runner-dir DIR
//        [--token-file FILE] [--name NAME] [--gpu] [--run-as USER] [--once] [--dry-run]
// The token (a fine-grained token or App installation token with repository Administration write, or for
// --org organisation Self-hosted runners write) is read from --token-file before every registration, so a
// token refresher may replace the file, or else from CRUCIBLE_RUNNER_TOKEN.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Octokit } from "@octokit/rest";
import { dryRunApi } from "./configure-repo.mjs";

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const LABEL = /^[A-Za-z0-9_.-]{1,100}$/;
export const RUNNER_LABELS = ["self-hosted", "linux", "gvisor"];
export const GPU_LABEL = "gpu";
export const DEFAULT_GROUP = "crucible-evaluate";
/** A repository's runners all belong to its one default group, whose id is 1. */
const REPOSITORY_DEFAULT_GROUP_ID = 1;
/** What the runner leaves in its folder that the next runner must not see. */
const SPENT = [".runner", ".credentials", ".credentials_rsaparams"];
/** Host variables the runner and its jobs need; nothing else of this process's environment is passed on. */
const PASSED_ENV = ["PATH", "LANG", "LC_ALL", "TZ", "DOCKER_HOST", "CRUCIBLE_POLICY", "CRUCIBLE_ARTIFACT_STORE"];

export function parseArgs(argv, env = process.env) {
  const options = {
    labels: [...RUNNER_LABELS],
    artifactsOlderThan: "336h",
    crucible: path.join(repoRoot, "actions/cli/bin/crucible.js"),
    apiUrl: env.GITHUB_API_URL || "https://api.github.com",
    name: os
      .hostname()
      .replace(/[^A-Za-z0-9_.-]/g, "-")
      .slice(0, 60),
    once: false,
    dryRun: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--repo") options.repo = value();
    else if (arg === "--org") options.org = value();
    else if (arg === "--runner-group") options.runnerGroup = value();
    else if (arg === "--runner-dir") options.runnerDir = path.resolve(value());
    else if (arg === "--token-file") options.tokenFile = value();
    else if (arg === "--name") options.name = value();
    else if (arg === "--label") options.labels.push(value());
    else if (arg === "--gpu") options.labels.push(GPU_LABEL);
    else if (arg === "--run-as") options.runAs = value();
    else if (arg === "--crucible") options.crucible = path.resolve(value());
    else if (arg === "--artifacts-older-than") options.artifactsOlderThan = value();
    else if (arg === "--api-url") options.apiUrl = value();
    else if (arg === "--once") options.once = true;
    else if (arg === "--dry-run") options.dryRun = true;
    else throw new Error(`unknown option ${arg}`);
  }
  if (Boolean(options.repo) === Boolean(options.org)) {
    throw new Error("give exactly one of --repo owner/name (a repository's runner) or --org ORG (an organisation's)");
  }
  if (options.repo) {
    const [owner, repo, ...rest] = options.repo.split("/");
    if (!owner || !repo || rest.length > 0 || !NAME.test(owner) || !NAME.test(repo)) {
      throw new Error(`--repo must be owner/name, got ${JSON.stringify(options.repo)}`);
    }
    if (options.runnerGroup) {
      throw new Error("--runner-group is for --org: a repository's runners have no groups (runner groups are an organisation feature)");
    }
    options.scope = { kind: "repository", owner, repo };
  } else {
    if (!NAME.test(options.org)) throw new Error(`--org ${JSON.stringify(options.org)} is not an organisation name`);
    options.scope = { kind: "organization", org: options.org, group: options.runnerGroup ?? DEFAULT_GROUP };
  }
  if (!options.runnerDir) throw new Error("--runner-dir DIR is required: where the GitHub Actions runner is unpacked (it holds run.sh)");
  // The registration adds "-" and 6 characters to the name.
  if (!NAME.test(options.name) || options.name.length > 57) {
    throw new Error(`--name ${JSON.stringify(options.name)} must be letters, digits, . _ - and at most 57 characters`);
  }
  for (const label of options.labels) {
    if (!LABEL.test(label)) throw new Error(`label ${JSON.stringify(label)} must be letters, digits, . _ -`);
  }
  options.labels = [...new Set(options.labels)];
  if (options.runAs !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(options.runAs)) {
    throw new Error(`--run-as ${JSON.stringify(options.runAs)} is not a user name`);
  }
  return options;
}

/** The REST route for an operation, at repository or organisation scope. */
function route(scope, tail) {
  return scope.kind === "repository" ? `/repos/{owner}/{repo}/actions/${tail}` : `/orgs/{org}/actions/${tail}`;
}

function scopeParams(scope) {
  return scope.kind === "repository" ? { owner: scope.owner, repo: scope.repo } : { org: scope.org };
}

export class Supervisor {
  constructor(options, api) {
    this.options = options;
    this.api = api;
    this.log = (line) => process.stdout.write(`[runner] ${line}\n`);
    /** Dry-run output: one JSON object per line. */
    this.print = (line) => process.stdout.write(`${line}\n`);
    this.stopping = false;
    this.child = undefined;
  }

  /** Cycles until stopped (or once). Resolves with the last runner's exit code. */
  async run() {
    let failures = 0;
    let code = 0;
    while (!this.stopping) {
      try {
        const outcome = await this.cycle();
        // run.sh exits 0 even when the runner gave up, so what tells a failed cycle is a registration
        // that never took a job. Those are not retried in a tight loop.
        code = outcome.code !== 0 || outcome.tookJob ? outcome.code : 1;
        failures = outcome.tookJob ? 0 : failures + 1;
      } catch (error) {
        this.log(`cycle failed: ${error.message}`);
        code = 1;
        failures++;
      }
      if (this.stopping) return 0; // asked to stop: whatever the runner answered to the signal is not a failure
      if (this.options.once || this.options.dryRun) break;
      if (failures > 0 && !this.stopping) {
        const wait = Math.min(300, 2 ** Math.min(failures, 8));
        this.log(`waiting ${wait}s before registering again (${failures} failed cycle(s) in a row)`);
        await this.sleep(wait * 1000);
      }
    }
    return code;
  }

  /** Stops after the current step; a running runner gets the signal and finishes or cancels its job. */
  stop(signal) {
    this.stopping = true;
    if (this.child && this.child.exitCode === null) this.child.kill(signal);
    this.wake?.();
  }

  /** One registration and its runner: the runner's exit code, and whether it took a job (GitHub then removed it). */
  async cycle() {
    await this.clearRunnerFolder();
    await this.collectGarbage();
    await this.checkHost();
    if (this.stopping) return { code: 0, tookJob: true };
    const registration = await this.register();
    const code = await this.startRunner(registration);
    const removed = await this.removeRegistration(registration.runner);
    if (!this.options.dryRun) this.log(`runner ${registration.runner.name} is done; next: clean up and register again`);
    return { code, tookJob: !removed };
  }

  async clearRunnerFolder() {
    const { runnerDir } = this.options;
    const targets = ["_work", ...SPENT].map((name) => path.join(runnerDir, name));
    if (this.options.dryRun) {
      this.print(JSON.stringify({ step: "clear", remove: targets }));
      return;
    }
    for (const target of targets) await rm(target, { recursive: true, force: true });
  }

  async collectGarbage() {
    const argv = [this.options.crucible, "gc", "--artifacts-older-than", this.options.artifactsOlderThan];
    if (this.options.dryRun) {
      this.print(JSON.stringify({ step: "gc", run: [process.execPath, ...argv] }));
      return;
    }
    this.log(`crucible gc`);
    try {
      const { stdout } = await execFileAsync(process.execPath, argv, { timeout: 600_000, env: this.childEnv() });
      for (const line of stdout.split("\n").filter(Boolean)) this.log(`  ${line}`);
    } catch (error) {
      throw new Error(`crucible gc failed, so this host takes no job: ${(error.stderr || error.message).trim()}`);
    }
  }

  /** The host doctor between jobs: a host that fails it registers no runner (the supervisor exits with the rows). */
  async checkHost() {
    const argv = [this.options.crucible, "doctor", "--json"];
    if (this.options.dryRun) {
      this.print(JSON.stringify({ step: "doctor", run: [process.execPath, ...argv] }));
      return;
    }
    this.log("crucible doctor");
    let stdout;
    try {
      ({ stdout } = await execFileAsync(process.execPath, argv, { timeout: 600_000, env: this.childEnv() }));
    } catch (error) {
      // Exit 1 is a report with failures on stdout; anything else is the doctor failing to run.
      stdout = error.code === 1 ? error.stdout : undefined;
      if (stdout === undefined)
        throw new Error(`crucible doctor failed to run, so this host takes no job: ${(error.stderr || error.message).trim()}`);
    }
    let report;
    try {
      report = JSON.parse(stdout);
    } catch {
      throw new Error(`crucible doctor printed no report, so this host takes no job: ${stdout.slice(0, 500)}`);
    }
    const failed = report.checks.filter((c) => c.status === "fail");
    for (const c of report.checks) this.log(`  ${c.status.padEnd(4)} ${c.check}: ${c.result}`);
    if (!report.ok) {
      const rows = failed.map((c) => `${c.check}: ${c.result}${c.fix ? ` (fix: ${c.fix})` : ""}`);
      throw new Error(`the host doctor failed, so this host takes no job:\n  ${rows.join("\n  ")}`);
    }
  }

  async register() {
    const { options } = this;
    const scope = options.scope;
    let groupId = REPOSITORY_DEFAULT_GROUP_ID;
    if (scope.kind === "organization") {
      if (options.dryRun) groupId = `<id of the runner group ${scope.group}>`;
      else {
        const { data } = await this.api.request("GET", "/orgs/{org}/actions/runner-groups", { org: scope.org, per_page: 100 });
        const group = data.runner_groups.find((g) => g.name === scope.group);
        if (!group) {
          const name = JSON.stringify(scope.group);
          throw new Error(`the organisation ${scope.org} has no runner group ${name}; create it with runner-setup/configure-org.mjs`);
        }
        groupId = group.id;
      }
    }
    const name = `${options.name}-${randomBytes(3).toString("hex")}`;
    const body = { name, runner_group_id: groupId, labels: options.labels, work_folder: "_work" };
    const { data } = await this.api.request("POST", route(scope, "runners/generate-jitconfig"), { ...scopeParams(scope), ...body });
    if (options.dryRun) return { runner: { id: "<id>", name }, jitConfig: "<encoded_jit_config from the response>" };
    this.log(`registered ${data.runner.name} (id ${data.runner.id}, labels ${options.labels.join(", ")})`);
    return { runner: data.runner, jitConfig: data.encoded_jit_config };
  }

  childEnv(extra = {}) {
    const env = {};
    for (const key of PASSED_ENV) if (process.env[key] !== undefined) env[key] = process.env[key];
    return { ...env, ...extra };
  }

  async startRunner({ runner, jitConfig }) {
    const { options } = this;
    const runSh = path.join(options.runnerDir, "run.sh");
    let argv = [runSh];
    let home = options.runnerDir;
    if (options.runAs) {
      const user = await lookUpUser(options.runAs);
      argv = ["setpriv", "--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--", runSh];
      home = user.home;
    }
    const env = this.childEnv({
      HOME: home,
      ACTIONS_RUNNER_INPUT_JITCONFIG: jitConfig,
      // run.sh passes SIGTERM on to the runner listener (which then cancels its job) only when asked to.
      RUNNER_MANUALLY_TRAP_SIG: "1",
      // The runner refuses root unless told; see README "Which user runs the runner".
      ...(options.runAs || process.getuid?.() !== 0 ? {} : { RUNNER_ALLOW_RUNASROOT: "1" }),
    });
    if (options.dryRun) {
      this.print(JSON.stringify({ step: "start", run: argv, cwd: options.runnerDir, env: Object.keys(env).sort() }));
      return 0;
    }
    this.log(`starting ${runner.name}: ${argv.join(" ")}`);
    const child = spawn(argv[0], argv.slice(1), { cwd: options.runnerDir, env, stdio: ["ignore", "inherit", "inherit"] });
    this.child = child;
    const code = await new Promise((resolve) => {
      child.on("error", (error) => {
        this.log(`could not start the runner: ${error.message}`);
        resolve(127);
      });
      child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
    });
    this.child = undefined;
    this.log(`runner ${runner.name} exited with ${code}`);
    return code;
  }

  /**
   * A runner that took its job is already gone from GitHub (ephemeral); one that never got one is removed
   * here. Returns whether there was a registration to remove.
   */
  async removeRegistration(runner) {
    const scope = this.options.scope;
    if (this.options.dryRun) {
      this.print(JSON.stringify({ step: "deregister", if: "still registered", request: `DELETE ${route(scope, "runners/{runner_id}")}` }));
      return false;
    }
    try {
      await this.api.request("DELETE", route(scope, "runners/{runner_id}"), { ...scopeParams(scope), runner_id: runner.id });
      this.log(`removed the registration of ${runner.name}: it ended without finishing a job`);
      return true;
    } catch (error) {
      if (error.status === 404) return false;
      this.log(`could not remove the registration of ${runner.name}: ${error.message}`);
      return true;
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** uid, gid and home of a local user, from the system's user database. */
async function lookUpUser(name) {
  const { stdout } = await execFileAsync("getent", ["passwd", name]).catch(() => ({ stdout: "" }));
  const fields = stdout.trim().split(":");
  if (fields.length < 7) throw new Error(`no such user ${name}; runner-setup/install-runner.mjs creates it`);
  return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}

async function readToken(options) {
  if (options.tokenFile) return (await readFile(options.tokenFile, "utf8")).trim();
  const token = process.env.CRUCIBLE_RUNNER_TOKEN;
  if (!token) throw new Error("no token: give --token-file FILE or set CRUCIBLE_RUNNER_TOKEN (or use --dry-run)");
  return token;
}

/** GitHub's REST API with the token read again before each call, so a refreshed token file is picked up. */
function freshTokenApi(options) {
  // Failed requests are thrown and reported by the supervisor; Octokit's own log line for them is noise.
  const log = { debug() {}, info() {}, warn: (message) => process.stderr.write(`${message}\n`), error() {} };
  return {
    async request(method, route, params) {
      const octokit = new Octokit({ auth: await readToken(options), baseUrl: options.apiUrl, userAgent: "crucible-jit-runner", log });
      const response = await octokit.request(`${method} ${route}`, params);
      process.stdout.write(`[runner] ${method} ${route.replace(/\{([^}]+)\}/g, (_, n) => params[n])}: ${response.status}\n`);
      return response;
    },
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!options.dryRun) await readToken(options);
  delete process.env.CRUCIBLE_RUNNER_TOKEN;
  const supervisor = new Supervisor(options, options.dryRun ? dryRunApi() : freshTokenApi(options));
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => supervisor.stop(signal));
  process.exitCode = await supervisor.run();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`jit-runner: ${error.message}\n`);
    process.exit(1);
  });
}
