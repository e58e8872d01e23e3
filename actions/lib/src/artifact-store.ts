import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { CrucibleError } from "./errors.js";
import type { CollectedFile } from "./files.js";
import { runnerCacheDir } from "./runner-cache.js";

/** A file kept in the artifact store, as result.json references it. */
export interface StoredArtifact {
  /** Where the producing stage wrote it, relative to its /output. */
  path: string;
  sha256: string;
  size: number;
}

/** Where the store lives when nothing says otherwise: beside the runner's other caches. */
export function defaultArtifactStore(): string {
  return process.env.CRUCIBLE_ARTIFACT_STORE ?? runnerCacheDir("artifacts");
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/**
 * Content-addressed storage for stage artifacts (model checkpoints and the like) that are too large
 * for git. Files are named by their sha256 and read-only; the sandbox never sees the store itself,
 * only single files bind-mounted read-only after their hash was checked again.
 */
export class ArtifactStore {
  constructor(readonly root: string) {}

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new CrucibleError(`not a sha256 digest: ${JSON.stringify(sha256)}`);
    return path.join(this.root, "sha256", sha256);
  }

  /** Copies a file into the store and returns its reference; a file already stored is kept as it is. */
  async put(file: string, relative: string): Promise<StoredArtifact> {
    const [sha256, { size }] = await Promise.all([sha256File(file), stat(file)]);
    const target = this.pathOf(sha256);
    if (await exists(target)) {
      // Stored again: it counts as new for pruning.
      const now = new Date();
      await utimes(target, now, now);
    } else {
      await mkdir(path.dirname(target), { recursive: true });
      const partial = `${target}.${randomBytes(4).toString("hex")}.partial`;
      await copyFile(file, partial);
      await chmod(partial, 0o444);
      // The rename is atomic: a reader sees the whole file or none.
      await rename(partial, target).catch(async (error) => {
        await rm(partial, { force: true });
        throw error;
      });
    }
    return { path: relative, sha256, size };
  }

  /**
   * The stored file for a reference, after checking its size and hash again: the store outlives runs,
   * so what a later stage reads must be exactly what the earlier stage wrote.
   */
  async verified(artifact: StoredArtifact): Promise<string> {
    const file = this.pathOf(artifact.sha256);
    const size = await stat(file).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined)
      throw new CrucibleError(`artifact ${artifact.path} (sha256 ${artifact.sha256}) is missing from the artifact store ${this.root}`);
    if (size !== artifact.size || (await sha256File(file)) !== artifact.sha256) {
      throw new CrucibleError(
        `artifact ${artifact.path} in the artifact store ${this.root} no longer matches its ` +
          `sha256 ${artifact.sha256}; refusing to mount it`,
      );
    }
    return file;
  }

  /**
   * Moves a stage's declared artifacts out of its collected outputs (in outputDir) into the store, so they
   * are not committed: what was stored, the declared paths the program did not write, and the files that stay.
   */
  async moveDeclared(
    outputDir: string,
    declared: string[],
    collected: CollectedFile[],
  ): Promise<{ stored: StoredArtifact[]; missing: string[]; kept: CollectedFile[] }> {
    const stored: StoredArtifact[] = [];
    const missing: string[] = [];
    for (const name of declared) {
      const file = collected.find((f) => f.path === name);
      if (!file) {
        missing.push(name);
        continue;
      }
      const hostFile = path.join(outputDir, name);
      const artifact = await this.put(hostFile, name);
      if (artifact.sha256 !== file.sha256) throw new CrucibleError(`artifact ${name} changed between collection and storage`);
      await rm(hostFile);
      stored.push(artifact);
    }
    return { stored, missing, kept: collected.filter((f) => !declared.includes(f.path)) };
  }
}

/**
 * Removes stored files not written or stored again for `maxAgeSeconds` (and partial files a crash left),
 * so the store of a long-lived runner stays bounded. Returns what was removed.
 */
export async function pruneArtifactStore(
  store: ArtifactStore,
  maxAgeSeconds: number,
  now = Date.now(),
): Promise<{ files: number; bytes: number }> {
  const dir = path.join(store.root, "sha256");
  const names = await readdir(dir).catch(() => [] as string[]);
  let files = 0;
  let bytes = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const stats = await stat(file).catch(() => undefined);
    if (!stats?.isFile() || now - stats.mtimeMs < maxAgeSeconds * 1000) continue;
    await rm(file, { force: true });
    files++;
    bytes += stats.size;
  }
  return { files, bytes };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
