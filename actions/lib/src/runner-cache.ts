// The runner's own cache folders ($XDG_CACHE_HOME/crucible/<name>, else ~/.cache/crucible/<name>): what a
// run may reuse from the runs before it on the same host. Each is trusted only when it is this user's alone.
import { lstat, mkdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** A relative $XDG_CACHE_HOME is ignored, as the XDG specification says: it would put the cache in the job's workspace. */
export function runnerCacheDir(name: string): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache"), "crucible", name);
}

/**
 * The folder when it is this user's alone, else undefined: an absolute path to a real directory that we own
 * and nobody else may write, below folders that only we or root may change (or sticky ones, like /tmp,
 * where others cannot rename what is ours). Otherwise someone else could swap the folder after this check.
 */
export async function privateDir(dir: string): Promise<string | undefined> {
  if (!path.isAbsolute(dir)) return undefined;
  const uid = process.getuid?.();
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await lstat(dir);
    if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o022) !== 0) return undefined;
    for (let parent = path.dirname(dir); ; parent = path.dirname(parent)) {
      const above = await stat(parent);
      const trusted = above.uid === uid || above.uid === 0;
      const closed = (above.mode & 0o022) === 0 || (above.mode & 0o1000) !== 0;
      if (!trusted || !closed) return undefined;
      if (parent === path.dirname(parent)) return dir;
    }
  } catch {
    return undefined;
  }
}
