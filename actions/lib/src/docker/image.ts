import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type Docker from "dockerode";
import { CrucibleError, SandboxUnavailableError } from "../errors.js";
import { describeSchemaError, validateImageRecipeDocument } from "../schemas.js";
import type { ImageRecipeDocument } from "../contracts/image-recipe.js";
import type { ImageRef } from "../sandbox/sandbox.js";
import { SandboxSlots } from "../slot-leases.js";

/** Bump when the way images are built changes, so every image is rebuilt. */
const BUILDER_VERSION = "1";
const RECIPE_HASH_LABEL = "crucible.recipe-hash";

/** runner-setup/images/<name>/recipe.json (schemas/image-recipe.schema.json). */
export type ImageRecipe = ImageRecipeDocument;

export async function readRecipe(imagesDir: string, name: string): Promise<{ recipe: ImageRecipe; hash: string; ref: string }> {
  const file = path.join(imagesDir, name, "recipe.json");
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    throw new CrucibleError(`image "${name}" has no recipe at ${file}`);
  }
  const recipe: unknown = JSON.parse(bytes.toString("utf8"));
  if (!validateImageRecipeDocument(recipe)) {
    throw new CrucibleError(
      `image recipe ${file} is invalid: ${(validateImageRecipeDocument.errors ?? []).map(describeSchemaError).join("; ")}`,
    );
  }
  const hash = createHash("sha256").update(`crucible-image-builder/${BUILDER_VERSION}\n`).update(bytes);
  for (const file of pythonFiles(imagesDir, recipe)) hash.update(await readFile(file));
  const digest = hash.digest("hex").slice(0, 16);
  return { recipe, hash: digest, ref: `crucible/${name}:${digest}` };
}

/** The host's own apt sources, so images come from the same Debian mirror the host uses. */
function aptSources(): string {
  const candidates = [process.env.CRUCIBLE_APT_SOURCES, "/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) throw new SandboxUnavailableError("no apt sources found to build images from; set CRUCIBLE_APT_SOURCES to a sources file");
  return found;
}

/**
 * Python files installed into an image from runner-setup/image-files/: Crucible's sitecustomize.py
 * (line-buffered stdout: live logs without losing short writes) for every image with Python, and the
 * modules the recipe names. Their contents are part of the recipe hash.
 */
function pythonFiles(imagesDir: string, recipe: ImageRecipe): string[] {
  if (!recipe.packages.some((p) => p.startsWith("python3"))) return [];
  return ["sitecustomize.py", ...(recipe.pythonModules ?? [])].map((file) => path.join(imagesDir, "..", "image-files", file));
}

/** mmdebstrap arguments for a recipe; each value is its own argv element, no shell is involved. */
export function mmdebstrapArgs(recipe: ImageRecipe, outputTar: string, sources: string, pythonFilesToInstall: string[] = []): string[] {
  return [
    `--variant=${recipe.variant}`,
    ...(recipe.packages.length > 0 ? [`--include=${recipe.packages.join(",")}`] : []),
    "--format=tar",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    // mmdebstrap copies these from the host; the image must not carry host details.
    '--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"',
    // mmdebstrap's own copy-in hook (no shell); file names are checked by the recipe schema.
    ...pythonFilesToInstall.map((file) => `--customize-hook=copy-in ${file} /usr/lib/python3/dist-packages`),
    recipe.suite,
    outputTar,
    sources,
  ];
}

/** How long a run waits for another process building the same recipe image (the research image takes ~7 minutes). */
const IMAGE_BUILD_WAIT_MS = 30 * 60 * 1000;

/** An image by reference or id, or undefined when Docker has none. */
export async function inspectImageOrUndefined(docker: Docker, reference: string): Promise<Docker.ImageInspectInfo | undefined> {
  return docker
    .getImage(reference)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined;
      throw error;
    });
}

/**
 * Returns the image for a recipe, building it with mmdebstrap and `docker import` only when no image
 * with the recipe's hash exists yet: images are built when a run first needs them, not all at set-up.
 * Two processes needing the same missing image build it once: a host-wide lock per recipe hash, and the
 * second finds the first's image when it gets the lock.
 */
export async function ensureImage(
  docker: Docker,
  imagesDir: string,
  name: string,
  log: (line: string) => void = () => undefined,
): Promise<ImageRef> {
  const { recipe, hash, ref } = await readRecipe(imagesDir, name);
  const existing = await inspectImageOrUndefined(docker, ref);
  if (existing) {
    log(`image ${ref} is up to date (${existing.Id})`);
    return { name, ref, id: existing.Id, recipeHash: hash };
  }
  // One build per recipe hash on this host: a one-slot lease (created complete and atomically, a dead
  // holder's taken over as sandbox slots' are), so a second run waits and then finds the image.
  const builds = new SandboxSlots(path.join(os.tmpdir(), "crucible-image-builds", `${name}-${hash}`), 1);
  const { lease } = await builds.acquire({
    runId: `build of ${ref}`,
    waitMs: IMAGE_BUILD_WAIT_MS,
    onWait: () => log(`waiting for another process, which is building image ${ref}`),
    reportEveryMs: 60_000,
  });
  if (!lease) {
    const holders = (await builds.heldBy()).map((h) => (h.pid ? `process ${h.pid}` : "another process"));
    throw new SandboxUnavailableError(
      `image ${ref} is still being built by ${holders.join(", ") || "another process"} after ${IMAGE_BUILD_WAIT_MS / 60_000} minutes`,
    );
  }
  try {
    const builtMeanwhile = await inspectImageOrUndefined(docker, ref);
    if (builtMeanwhile) {
      log(`image ${ref} was built by another process meanwhile (${builtMeanwhile.Id})`);
      return { name, ref, id: builtMeanwhile.Id, recipeHash: hash };
    }
    return await buildRecipeImage(docker, imagesDir, { name, recipe, hash, ref }, log);
  } finally {
    await lease.release();
  }
}

async function buildRecipeImage(
  docker: Docker,
  imagesDir: string,
  { name, recipe, hash, ref }: { name: string; recipe: ImageRecipe; hash: string; ref: string },
  log: (line: string) => void,
): Promise<ImageRef> {
  const started = Date.now();
  log(
    `building image ${ref} from Debian ${recipe.suite} with: ${recipe.packages.join(", ") || "(no extra packages)"} ` +
      "(once per recipe; the first run that needs it waits for the build)",
  );
  const workDir = await mkdtemp(path.join(os.tmpdir(), "crucible-image-"));
  try {
    const tar = path.join(workDir, "rootfs.tar");
    await runLogged("mmdebstrap", mmdebstrapArgs(recipe, tar, aptSources(), pythonFiles(imagesDir, recipe)), log, {
      SOURCE_DATE_EPOCH: "1700000000",
    });
    log(`importing ${ref} into Docker`);
    const [repo, tag] = ref.split(":") as [string, string];
    const changes = [...Object.entries(recipe.env ?? {}).map(([k, v]) => `ENV ${k}=${v}`), `LABEL ${RECIPE_HASH_LABEL}=${hash}`];
    const progress = await docker.importImage(tar, { repo, tag, changes } as unknown as Record<string, unknown>);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        progress,
        (error: Error | null) => (error ? reject(error) : resolve()),
        // followProgress does not turn an error event into an error: check each one.
        (event: { error?: string }) => event.error && reject(new Error(`docker import failed: ${event.error}`)),
      );
    });
    const image = await docker.getImage(ref).inspect();
    log(`built image ${ref} (${image.Id}, ${Math.round(image.Size / 1e6)} MB) in ${Math.round((Date.now() - started) / 1000)} s`);
    return { name, ref, id: image.Id, recipeHash: hash };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function runLogged(command: string, args: string[], log: (line: string) => void, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error) => {
      if (!error) return resolve();
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new SandboxUnavailableError(
          missing
            ? `${command} is not installed: apt-get install ${command}, or run \`npm run setup\``
            : `${command} failed: ${error.message}`,
        ),
      );
    });
    let pending = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) log(`  ${line}`);
    });
  });
}
