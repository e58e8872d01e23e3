import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { portableNameProblem } from "./names.js";
import { shownText } from "./text.js";

/**
 * Files the sandbox could write to are hostile: every path below is walked with lstat and opened with
 * O_NOFOLLOW, so a symbolic link planted by the program is refused instead of followed.
 */

function splitRelative(relative: string): string[] {
  const parts = relative.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..") || path.isAbsolute(relative)) throw new Error(`refusing path ${JSON.stringify(relative)}`);
  return parts;
}

async function assertNoLinks(root: string, parts: string[]): Promise<void> {
  let current = root;
  for (const part of parts.slice(0, -1)) {
    current = path.join(current, part);
    const stats = await lstat(current);
    if (!stats.isDirectory()) throw new Error(`refusing ${JSON.stringify(parts.join("/"))}: ${part} is not a plain folder`);
  }
}

/** Opens a regular file under root for reading without following any link. */
export async function openInside(root: string, relative: string): Promise<FileHandle> {
  const parts = splitRelative(relative);
  await assertNoLinks(root, parts);
  const handle = await open(path.join(root, ...parts), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new Error(`refusing ${JSON.stringify(relative)}: not a regular file`);
  }
  return handle;
}

/** Creates a new file under root (refusing to replace anything that exists). */
export async function writeInside(root: string, relative: string, data: Uint8Array): Promise<void> {
  const parts = splitRelative(relative);
  let current = root;
  for (const part of parts.slice(0, -1)) {
    current = path.join(current, part);
    await mkdir(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    if (!(await lstat(current)).isDirectory()) throw new Error(`refusing ${JSON.stringify(relative)}: ${part} is not a plain folder`);
  }
  const handle = await open(
    path.join(current, parts.at(-1)!),
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

export interface CollectedFile {
  path: string;
  size: number;
  sha256: string;
}

export interface DroppedEntry {
  /** As shown to people: control characters escaped, at most 300 characters. */
  path: string;
  reason: string;
}

/** A dropped entry whose path is the program's own text, made safe to show. */
export function droppedEntry(rawPath: string, reason: string): DroppedEntry {
  return { path: shownText(rawPath, 300), reason };
}

export interface CollectLimits {
  maxBytes: number;
  maxFiles: number;
  /** Files the experiment promised; a missing one is reported as dropped. */
  declared: string[];
  /** Deepest folder nesting that is walked. */
  maxDepth?: number;
}

/**
 * Copies the regular files the program left in `from` into `to`, within the caps. Links, devices,
 * FIFOs and sockets are never opened, and only portable names are taken (names.ts), so nothing that
 * lands in results/ and then in git can act on a shell, a terminal or another platform's file system.
 * Everything not copied is listed with the reason.
 */
export async function collectOutputs(
  from: string,
  to: string,
  limits: CollectLimits,
): Promise<{ files: CollectedFile[]; dropped: DroppedEntry[] }> {
  const files: CollectedFile[] = [];
  const dropped: DroppedEntry[] = [];
  const maxDepth = limits.maxDepth ?? 16;
  let bytes = 0;
  let overFileCap = 0;
  // Lower-cased paths taken so far: two names that differ only in case are one file on macOS and Windows.
  const taken = new Map<string, string>();

  const walk = async (relativeDir: string, depth: number): Promise<void> => {
    const entries = await readdir(path.join(from, relativeDir), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const relative = relativeDir ? `${relativeDir}/${entry.name}` : entry.name;
      const unportable = portableNameProblem(entry.name);
      if (unportable) {
        dropped.push(droppedEntry(relative, entry.isDirectory() ? `folder ${unportable}` : unportable));
        continue;
      }
      const clash = taken.get(relative.toLowerCase());
      if (clash !== undefined) {
        const reason = `differs only in case from ${clash}, which it would overwrite on a case-insensitive file system`;
        dropped.push(droppedEntry(relative, reason));
        continue;
      }
      if (entry.isDirectory()) {
        if (depth >= maxDepth) dropped.push(droppedEntry(relative, `folder nested deeper than ${maxDepth} levels`));
        else {
          taken.set(relative.toLowerCase(), relative);
          await walk(relative, depth + 1);
        }
        continue;
      }
      if (!entry.isFile()) {
        const reason = entry.isSymbolicLink() ? "symbolic link (never followed)" : "not a regular file (device, FIFO or socket)";
        dropped.push(droppedEntry(relative, reason));
        continue;
      }
      if (files.length >= limits.maxFiles) {
        overFileCap++;
        continue;
      }
      const handle = await openInside(from, relative).catch(() => undefined);
      if (!handle) {
        dropped.push(droppedEntry(relative, "changed while being collected"));
        continue;
      }
      try {
        const { size } = await handle.stat();
        if (bytes + size > limits.maxBytes) {
          dropped.push(droppedEntry(relative, `${size} bytes would exceed the output cap of ${limits.maxBytes} bytes`));
          continue;
        }
        const data = await handle.readFile();
        bytes += data.length;
        await writeInside(to, relative, data);
        taken.set(relative.toLowerCase(), relative);
        files.push({ path: relative, size: data.length, sha256: createHash("sha256").update(data).digest("hex") });
      } finally {
        await handle.close();
      }
    }
  };

  await mkdir(to, { recursive: true });
  await walk("", 0);
  if (overFileCap > 0)
    dropped.push({ path: "*", reason: `${overFileCap} more files beyond the cap of ${limits.maxFiles} files were not collected` });
  const collected = new Set(files.map((f) => f.path));
  for (const declared of limits.declared) {
    if (!collected.has(declared) && !dropped.some((d) => d.path === declared))
      dropped.push({ path: declared, reason: "declared in outputs.files but not written" });
  }
  return { files, dropped };
}
