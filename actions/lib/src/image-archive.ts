import { createHash } from "node:crypto";
import { lstat, open, readFile } from "node:fs/promises";
import path from "node:path";
import { errorMessage, PolicyRejectedError } from "./errors.js";
import { DIGEST } from "./image-source.js";
import { formatBytes } from "./units.js";

/** What the build job exports beside the image archive (image.json), and the evaluate job reads back. */
export interface BuiltImageRecord {
  experiment: string;
  digest: string;
  dockerfileHash?: string;
  baseImage?: string;
}

export const BUILT_IMAGE_FILE = "image.json";
export const BUILT_IMAGE_ARCHIVE = "image.tar";

/**
 * The approved image of a build job's artifact folder: its image.json (digest checked for shape) and
 * image.tar. The archive is checked against the digest when it is loaded (prepareExperimentImage).
 */
export async function readBuiltImage(folder: string): Promise<{ record: BuiltImageRecord; archive: string }> {
  const file = path.join(folder, BUILT_IMAGE_FILE);
  let record: BuiltImageRecord;
  try {
    if ((await lstat(file)).size > 64 * 1024) throw new Error("larger than 64 KiB");
    record = JSON.parse(await readFile(file, "utf8")) as BuiltImageRecord;
  } catch (error) {
    throw new PolicyRejectedError(`the build job's ${file} cannot be read: ${errorMessage(error)}`);
  }
  if (typeof record?.digest !== "string" || !DIGEST.test(record.digest))
    throw new PolicyRejectedError(`the build job's ${file} names no sha256 digest`);
  return { record, archive: path.join(folder, BUILT_IMAGE_ARCHIVE) };
}

/**
 * The image id inside a `docker save` archive: the sha256 of the single image's configuration file,
 * which manifest.json names. Reads tar headers itself so nothing reaches the Docker daemon unchecked.
 */
export async function archiveImageDigest(archive: string): Promise<string> {
  const entries = await readTarEntries(archive, (name) => name === "manifest.json" || name.endsWith(".json"), 16 * 1024 * 1024);
  const manifestBytes = entries.get("manifest.json");
  if (!manifestBytes) throw new PolicyRejectedError(`the image archive ${archive} has no manifest.json: not a docker save archive`);
  let manifest: { Config?: unknown }[];
  try {
    manifest = JSON.parse(manifestBytes.toString("utf8")) as { Config?: unknown }[];
  } catch {
    throw new PolicyRejectedError(`the image archive's manifest.json is not JSON`);
  }
  if (!Array.isArray(manifest) || manifest.length !== 1 || typeof manifest[0]?.Config !== "string") {
    throw new PolicyRejectedError(
      `the image archive must hold exactly one image (its manifest.json lists ${Array.isArray(manifest) ? manifest.length : "none"})`,
    );
  }
  const config = entries.get(manifest[0].Config);
  if (!config) throw new PolicyRejectedError(`the image archive lacks the configuration ${manifest[0].Config} its manifest names`);
  return `sha256:${createHash("sha256").update(config).digest("hex")}`;
}

/** Regular-file entries of a plain ustar/pax archive whose names pass `want`, each up to `maxBytes`. */
async function readTarEntries(file: string, want: (name: string) => boolean, maxBytes: number): Promise<Map<string, Buffer>> {
  const handle = await open(file, "r");
  const found = new Map<string, Buffer>();
  try {
    const header = Buffer.alloc(512);
    let offset = 0;
    let longName: string | undefined;
    for (;;) {
      const { bytesRead } = await handle.read(header, 0, 512, offset);
      if (bytesRead < 512 || header.every((b) => b === 0)) break;
      const field = (start: number, length: number) =>
        header
          .subarray(start, start + length)
          .toString("utf8")
          .replace(/\0.*$/s, "");
      const size = parseInt(field(124, 12).trim() || "0", 8);
      if (!Number.isFinite(size) || size < 0)
        throw new PolicyRejectedError(`the image archive has a malformed tar header at byte ${offset}`);
      const type = field(156, 1) || "0";
      const prefix = field(345, 155);
      let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      longName = undefined;
      name = name.replace(/^\.\//, "");
      const dataStart = offset + 512;
      if ((type === "x" || type === "L") && size <= 64 * 1024) {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        const text = data.toString("utf8");
        longName = type === "L" ? text.replace(/\0.*$/s, "") : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
      } else if ((type === "0" || type === "\0") && want(name)) {
        if (size > maxBytes)
          throw new PolicyRejectedError(
            `the image archive's ${name} is ${formatBytes(size)}, more than a manifest or configuration can be`,
          );
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        found.set(name, data);
      }
      offset = dataStart + Math.ceil(size / 512) * 512;
    }
  } finally {
    await handle.close();
  }
  return found;
}
