// What an installed runsc can do, remembered per binary: every run's host-fit check needs it, and reading
// it means starting runsc three times (doctor/runsc.ts probeRunsc), which is most of the check's time.
import { createHash } from "node:crypto";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { probeRunsc, type RunscCapabilities } from "../doctor/runsc.js";
import { privateDir, runnerCacheDir } from "../runner-cache.js";

/** The runner's own cache folder for runsc findings: $XDG_CACHE_HOME/crucible/runsc, else ~/.cache/crucible/runsc. */
export function defaultRunscCacheDir(): string {
  return runnerCacheDir("runsc");
}

/**
 * probeRunsc, reused while the binary is the same file: its device, inode, size, modification and
 * change times (the change time moves with any write, chmod or rename onto it, and cannot be set back).
 * A replaced or upgraded runsc is probed again. The findings are kept in a private folder only; a cache
 * that is missing, unreadable, not ours or not for this file is never trusted and never fails the
 * check: runsc is probed again.
 */
export async function probeRunscCached(binary: string, cacheDir = defaultRunscCacheDir()): Promise<RunscCapabilities> {
  // A bare name is found on PATH by the probe itself; only a path names one file.
  if (!path.isAbsolute(binary)) return probeRunsc(binary);
  const file = await stat(binary, { bigint: true }).catch(() => undefined);
  const dir = file && (await privateDir(cacheDir));
  if (!file || !dir) return probeRunsc(binary);
  const identity = [binary, file.dev, file.ino, file.size, file.mtimeNs, file.ctimeNs].join(":");
  const entry = path.join(dir, `${createHash("sha256").update(identity).digest("hex").slice(0, 32)}.json`);
  const cached = await readEntry(entry, identity, binary);
  if (cached) return cached;
  const probed = await probeRunsc(binary);
  const stored: StoredFindings = { identity, version: probed.version, flags: [...probed.flags], platforms: probed.platforms };
  if (probed.date) stored.date = probed.date;
  // Written aside and renamed over, so a run reading at the same moment sees the whole entry or none.
  const draft = `${entry}.${process.pid}.tmp`;
  await writeFile(draft, JSON.stringify(stored), { mode: 0o600 })
    .then(() => rename(draft, entry))
    .catch(() => undefined);
  return probed;
}

interface StoredFindings {
  identity: string;
  version: string;
  date?: string;
  flags: string[];
  platforms: string[];
}

async function readEntry(entry: string, identity: string, binary: string): Promise<RunscCapabilities | undefined> {
  try {
    const stored = JSON.parse(await readFile(entry, "utf8")) as Partial<StoredFindings>;
    const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === "string");
    if (stored.identity !== identity || typeof stored.version !== "string" || !strings(stored.flags) || !strings(stored.platforms)) {
      return undefined;
    }
    const date = typeof stored.date === "string" ? { date: stored.date } : {};
    return { path: binary, version: stored.version, ...date, flags: new Set(stored.flags), platforms: stored.platforms };
  } catch {
    return undefined;
  }
}
