// The runner's private cache folders: Node's compile cache (code that is executed) and runsc's findings are
// kept only where nobody but the runner's user (or root) could have put or swapped them.
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, stat, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { privateDir, runnerCacheDir } from "../actions/lib/src/runner-cache.js";
import { binDir, repoRoot } from "./support/repo.js";

const savedXdg = process.env.XDG_CACHE_HOME;
afterEach(() => {
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
});

describe("runner cache folders", () => {
  it("are under an absolute $XDG_CACHE_HOME, and under ~/.cache when it is unset or relative", () => {
    process.env.XDG_CACHE_HOME = "/var/cache/runner";
    expect(runnerCacheDir("runsc")).toBe("/var/cache/runner/crucible/runsc");
    for (const relative of ["", "cache", "./cache"]) {
      process.env.XDG_CACHE_HOME = relative;
      expect(runnerCacheDir("runsc")).toBe(path.join(os.homedir(), ".cache", "crucible", "runsc"));
    }
  });

  it("are used only when the folder and every folder above it are closed to others", async () => {
    const top = await mkdtemp(path.join(os.tmpdir(), "crucible-runner-cache-"));
    const fresh = path.join(top, "a", "b", "cache");
    expect(await privateDir(fresh)).toBe(fresh);
    expect((await stat(fresh)).mode & 0o777).toBe(0o700);
    // A folder others may write, at the cache itself or anywhere above it, could be swapped after the check.
    await chmod(fresh, 0o770);
    expect(await privateDir(fresh)).toBeUndefined();
    await chmod(fresh, 0o700);
    await chmod(path.join(top, "a"), 0o777);
    expect(await privateDir(fresh)).toBeUndefined();
    // A sticky folder (like /tmp) is fine: others cannot rename or remove what is ours in it.
    await chmod(path.join(top, "a"), 0o1777);
    expect(await privateDir(fresh)).toBe(fresh);
    // Not a relative path, not a symbolic link to a folder.
    expect(await privateDir("relative/cache")).toBeUndefined();
    await symlink(fresh, path.join(top, "link"));
    expect(await privateDir(path.join(top, "link"))).toBeUndefined();
  });

  it("hold the run action's compiled bundle only when private", async () => {
    const cacheHome = await mkdtemp(path.join(os.tmpdir(), "crucible-compile-cache-"));
    const start = (xdg: string) =>
      // Without inputs the action fails at once, after its bundle has been loaded (and compiled).
      spawnSync(path.join(binDir, "node"), [path.join(repoRoot, "actions/run/dist/index.js")], {
        env: { PATH: process.env.PATH, HOME: os.homedir(), XDG_CACHE_HOME: xdg },
        encoding: "utf8",
      });
    const filesIn = async (dir: string) => (await readdir(dir, { recursive: true })).length;
    expect(start(cacheHome).stdout).toContain("::error::");
    expect(await filesIn(path.join(cacheHome, "crucible", "node-compile-cache"))).toBeGreaterThan(0);
    const open = path.join(await mkdtemp(path.join(os.tmpdir(), "crucible-compile-cache-")), "shared");
    await mkdir(open, { mode: 0o777 });
    await chmod(open, 0o777);
    expect(start(open).stdout).toContain("::error::");
    expect(await filesIn(path.join(open, "crucible", "node-compile-cache"))).toBe(0);
  });
});
