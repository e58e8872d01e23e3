import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const imagesDir = path.join(repoRoot, "runner-setup", "images");
export const binDir = path.join(repoRoot, "node_modules", ".bin");
export const cliBin = path.join(repoRoot, "actions", "cli", "bin", "crucible.js");

/** Creates <tmp>/experiments/<name>/ with the given files and returns the experiment file's path. */
export async function makeExperiment(name: string, files: Record<string, string>, root?: string): Promise<string> {
  const base = root ?? (await mkdtemp(path.join(os.tmpdir(), "crucible-test-")));
  const dir = path.join(base, "experiments", name);
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return path.join(dir, "experiment.yaml");
}

/** A valid experiment YAML, with lines replaced or appended by the caller. */
export function experimentYaml(
  name: string,
  overrides: { command?: string; resources?: string; extra?: string; inputs?: string } = {},
): string {
  return [
    "apiVersion: crucible/v1",
    `name: ${name}`,
    "description: test experiment",
    "image: base",
    `command: ${overrides.command ?? "[python3, main.py]"}`,
    `inputs: ${overrides.inputs ?? "[main.py]"}`,
    "resources:",
    ...(overrides.resources ?? "  cpus: 1\n  memory: 256Mi\n  timeout: 60s").split("\n"),
    ...(overrides.extra ? overrides.extra.split("\n") : []),
    "",
  ].join("\n");
}
