import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { binDir } from "./repo.js";

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/**
 * Runs a bundled action the way the runner does: `node dist/index.js` (Node 24 from node_modules/.bin),
 * inputs as INPUT_<NAME>, and file commands in GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE.
 */
export async function runAction(
  entry: string,
  options: { inputs?: Record<string, string>; env?: Record<string, string>; event?: unknown; signal?: AbortSignal },
): Promise<ActionRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-action-"));
  const files = { GITHUB_OUTPUT: "output", GITHUB_STEP_SUMMARY: "summary", GITHUB_STATE: "state", GITHUB_ENV: "env", GITHUB_PATH: "path" };
  const env: Record<string, string> = { PATH: `${binDir}:${process.env.PATH ?? ""}`, HOME: os.homedir(), RUNNER_TEMP: dir };
  for (const [name, file] of Object.entries(files)) {
    env[name] = path.join(dir, file);
    await writeFile(env[name]!, "");
  }
  if (options.event !== undefined) {
    env.GITHUB_EVENT_PATH = path.join(dir, "event.json");
    await writeFile(env.GITHUB_EVENT_PATH, JSON.stringify(options.event));
  }
  for (const [name, value] of Object.entries(options.inputs ?? {})) env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
  Object.assign(env, options.env);

  const child = spawn(path.join(binDir, "node"), [entry], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  // Cancellation as the runner does it: SIGINT, then SIGTERM 7.5 s later.
  const stop = interruptOnAbort(child, options.signal);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  stop();
  return {
    code,
    stdout,
    stderr,
    outputs: parseFileCommands(await readFile(env.GITHUB_OUTPUT!, "utf8")),
    summary: await readFile(env.GITHUB_STEP_SUMMARY!, "utf8"),
  };
}

/** Parses the `name<<delimiter` blocks that @actions/core writes to GITHUB_OUTPUT. */
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!match) continue;
    const [, name, delimiter] = match;
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]!);
    values[name!] = value.join("\n");
  }
  return values;
}

/** The runner's cancellation: SIGINT, then SIGTERM 7.5 s later. Returns a function that stops listening. */
export function interruptOnAbort(child: { kill(signal: NodeJS.Signals): boolean }, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => {};
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    child.kill("SIGINT");
    timer = setTimeout(() => child.kill("SIGTERM"), 7500);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => {
    signal.removeEventListener("abort", onAbort);
    if (timer) clearTimeout(timer);
  };
}
