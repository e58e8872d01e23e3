import { execFile } from "node:child_process";
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Scratch {
  /** Host folder mounted at /output. */
  outputDir: string;
  /** Whether the folder has a hard size limit (a tmpfs; needs root). */
  sizeLimited: boolean;
  dispose(): Promise<void>;
}

/**
 * The host folder a sandbox writes to. As root it is a tmpfs of a fixed size, so a program writing
 * forever fills its own tmpfs and never the host disk; otherwise a plain folder. Under runsc the gofer
 * writes these pages from inside the sandbox's cgroup, so they also count against its memory limit.
 */
export async function createScratch(root: string, runId: string, sizeBytes: number): Promise<Scratch> {
  const dir = path.join(root, "crucible", runId);
  const outputDir = path.join(dir, "output");
  await mkdir(outputDir, { recursive: true, mode: 0o700 });
  let sizeLimited = false;
  if (process.getuid?.() === 0) {
    await execFileAsync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0777,nosuid,nodev,noexec`, "crucible-output", outputDir]);
    sizeLimited = true;
  }
  // The program runs as an unprivileged uid that must be able to write here.
  await chmod(outputDir, 0o777);
  let disposed = false;
  return {
    outputDir,
    sizeLimited,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (sizeLimited) await unmount(outputDir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function unmount(outputDir: string): Promise<unknown> {
  return execFileAsync("umount", [outputDir]).catch(() => execFileAsync("umount", ["-l", outputDir]));
}

/**
 * Frees the scratch space of a sandbox whose owner died before disposing of it. `outputDir` is what the
 * sandbox had mounted at /output; it is touched only when it has the shape createScratch gives it,
 * <root>/crucible/<run id>[-<stage>]/output. Returns whether it was freed.
 */
export async function releaseScratch(outputDir: string, runId: string): Promise<boolean> {
  const dir = path.dirname(outputDir);
  const name = path.basename(dir);
  if (!path.isAbsolute(outputDir) || path.basename(outputDir) !== "output" || path.basename(path.dirname(dir)) !== "crucible") return false;
  if (!runId || (name !== runId && !name.startsWith(`${runId}-`))) return false;
  if (process.getuid?.() === 0) await unmount(outputDir).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  return true;
}
