// The runner's own cache folders ($XDG_CACHE_HOME/crucible/<name>, else ~/.cache/crucible/<name>): what a
// run may reuse from the runs before it on the same host. Each is trusted only when it is this user's alone.
import { lstat, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export function runnerCacheDir(name: string): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "crucible", name);
}

/** The folder when it is this user's alone (a real directory, owned by us, writable by nobody else), else undefined. */
export async function privateDir(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await lstat(dir);
    const mine = info.isDirectory() && info.uid === process.getuid?.() && (info.mode & 0o022) === 0;
    return mine ? dir : undefined;
  } catch {
    return undefined;
  }
}
