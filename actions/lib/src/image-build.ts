import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import type Docker from "dockerode";
import { CrucibleError, PolicyRejectedError, SandboxUnavailableError } from "./errors.js";
import { ensureImage, type ImageRef } from "./image.js";
import { checkImageSourceAgainstPolicy, DIGEST, imageSourceOf, registryAuth, type ImagePolicy, type ImageSource } from "./image-source.js";
import { formatBytes } from "./units.js";

/** Labels every image Crucible builds from an experiment's Dockerfile carries; `crucible gc` looks for the first. */
export const EXPERIMENT_IMAGE_LABEL = "crucible.experiment-image";
export const CONTEXT_HASH_LABEL = "crucible.context-hash";
export const DOCKERFILE_HASH_LABEL = "crucible.dockerfile-hash";
export const BASE_IMAGE_LABEL = "crucible.base-image";
/** Repository of locally built experiment images: crucible-experiment/<name>:<context hash>. */
export const EXPERIMENT_IMAGE_REPOSITORY = "crucible-experiment";

/** What a run needs to make an experiment's own image (a Dockerfile or a digest-pinned reference) available. */
export interface ImageRequest {
  source: Exclude<ImageSource, { kind: "recipe" }>;
  experimentName: string;
  experimentDir: string;
  /** runner-setup/images: recipes a Dockerfile may start FROM. */
  imagesDir: string;
  policy: ImagePolicy;
  /**
   * On a sandbox host: the digest the reviewer approved and, for a Dockerfile, the image archive the
   * pull request's build job exported. Without it a Dockerfile is built here (a researcher's machine).
   */
  approved?: { digest: string; archive?: string };
}

/** One instruction of a Dockerfile, continuation lines joined. */
export interface DockerfileInstruction {
  line: number;
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile (comments, parser directives and blank lines skipped; `\` continuations joined). */
export function parseDockerfile(text: string): DockerfileInstruction[] {
  const escape = /^#\s*escape\s*=\s*`/im.test(text.split("\n").slice(0, 5).join("\n")) ? "`" : "\\";
  const lines = text.split(/\r?\n/);
  const instructions: DockerfileInstruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim();
    if (first === "" || first.startsWith("#")) continue;
    const start = i + 1;
    let joined = lines[i]!.trimEnd();
    while (joined.endsWith(escape) && i + 1 < lines.length) {
      joined = joined.slice(0, -1);
      i++;
      // Comment lines inside a continued instruction are dropped, as Docker does.
      while (lines[i]!.trim().startsWith("#") && i + 1 < lines.length) i++;
      joined += ` ${lines[i]!.trim()}`;
    }
    const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(joined);
    if (match) instructions.push({ line: start, keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
  }
  return instructions;
}

/** A FROM of a Dockerfile, resolved: a Crucible recipe (through its build argument), an earlier stage, scratch or a pinned reference. */
type BaseImage =
  | { kind: "recipe"; name: string; arg: string }
  | { kind: "stage"; name: string }
  | { kind: "scratch" }
  | { kind: "registry"; source: Extract<ImageSource, { kind: "registry" }> };

/** The build argument that carries a recipe's image: base → CRUCIBLE_BASE, my-image → CRUCIBLE_MY_IMAGE. */
export function recipeBuildArg(recipe: string): string {
  return `CRUCIBLE_${recipe.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * What a Dockerfile needs and whether this host may build it. Every FROM must be a Crucible recipe
 * (`FROM ${CRUCIBLE_BASE}`), an earlier stage, scratch or a digest-pinned reference; ADD from a URL is
 * refused (nothing is fetched during a build). RUN steps are counted: Docker executes them outside gVisor.
 */
export function analyseDockerfile(
  text: string,
  file: string,
  recipes: string[],
): { bases: BaseImage[]; runSteps: DockerfileInstruction[] } {
  const instructions = parseDockerfile(text);
  const problems: string[] = [];
  const bases: BaseImage[] = [];
  const stages: string[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const image = words[0] ?? "";
      const earlierStage = stages.includes(image.toLowerCase());
      if (words[1]?.toLowerCase() === "as" && words[2]) stages.push(words[2].toLowerCase());
      const arg = /^\$\{?([A-Z0-9_]+)\}?$/.exec(image)?.[1];
      const recipe = arg ? recipes.find((r) => recipeBuildArg(r) === arg) : undefined;
      if (recipe && arg) bases.push({ kind: "recipe", name: recipe, arg });
      else if (earlierStage) bases.push({ kind: "stage", name: image });
      else if (image === "scratch") bases.push({ kind: "scratch" });
      else {
        let source: ImageSource | undefined;
        try {
          source = imageSourceOf(image);
        } catch {
          source = undefined;
        }
        if (source?.kind === "registry") bases.push({ kind: "registry", source });
        else {
          const example = recipeBuildArg(recipes.includes("base") ? "base" : (recipes[0] ?? "base"));
          problems.push(
            `${file}:${instruction.line}: FROM ${image} is neither a Crucible image nor pinned by digest: write \`ARG ${example}\` before it and ` +
              `\`FROM \${${example}}\` (images: ${recipes.map(recipeBuildArg).join(", ")}), or pin a registry image: FROM registry.example/org/name@sha256:<64 hex digits>`,
          );
        }
      }
    }
    if (instruction.keyword === "ADD" && /(^|\s)(https?:\/\/|git@)/i.test(instruction.args)) {
      problems.push(`${file}:${instruction.line}: ADD from a URL fetches during the build; put the file in the build context and COPY it`);
    }
  }
  if (bases.length === 0) problems.push(`${file}: has no FROM instruction`);
  if (problems.length > 0) throw new PolicyRejectedError(`the Dockerfile cannot be built: ${problems.join("; ")}`);
  return { bases, runSteps: instructions.filter((i) => i.keyword === "RUN" || (i.keyword === "ONBUILD" && /^RUN\b/i.test(i.args))) };
}

/**
 * Files of a build context, sorted, with a hash over their paths, modes and contents. The experiment's
 * results/ folder is left out (results never change the image); symbolic links and special files are
 * refused, so what is hashed is what Docker receives.
 */
export async function hashContext(contextDir: string, experimentDir: string): Promise<{ files: string[]; hash: string }> {
  const files: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const absolute = path.join(contextDir, relative);
    for (const entry of (await readdir(absolute, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      const full = path.join(contextDir, child);
      if (path.relative(experimentDir, full) === "results") continue;
      if (entry.isSymbolicLink())
        throw new PolicyRejectedError(`the build context holds a symbolic link (${full}); copy the file in instead`);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) files.push(child);
      else throw new PolicyRejectedError(`the build context holds ${full}, which is not a regular file or folder`);
    }
  };
  await walk("");
  const hash = createHash("sha256").update("crucible-context/1\n");
  for (const file of files) {
    const stats = await lstat(path.join(contextDir, file));
    hash.update(`${file}\0${(stats.mode & 0o777).toString(8)}\0${stats.size}\0`);
    hash.update(await readFile(path.join(contextDir, file)));
  }
  return { files, hash: hash.digest("hex") };
}

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
    throw new PolicyRejectedError(`the build job's ${file} cannot be read: ${(error as Error).message}`);
  }
  if (typeof record?.digest !== "string" || !DIGEST.test(record.digest))
    throw new PolicyRejectedError(`the build job's ${file} names no sha256 digest`);
  return { record, archive: path.join(folder, BUILT_IMAGE_ARCHIVE) };
}

/** Writes an image as `docker save` does, with image.json beside it: what the hosted build job uploads. */
export async function exportBuiltImage(docker: Docker, image: ImageRef, experiment: string, folder: string): Promise<BuiltImageRecord> {
  await mkdir(folder, { recursive: true });
  const stream = await docker.getImage(image.id).get();
  await pipeline(stream, createWriteStream(path.join(folder, BUILT_IMAGE_ARCHIVE)));
  const record: BuiltImageRecord = {
    experiment,
    digest: image.id,
    ...(image.dockerfileHash ? { dockerfileHash: image.dockerfileHash } : {}),
    ...(image.baseImage ? { baseImage: image.baseImage } : {}),
  };
  // The archive must hold what the record says, or the sandbox host would refuse it anyway: fail here, where it is clearer.
  const held = await archiveImageDigest(path.join(folder, BUILT_IMAGE_ARCHIVE));
  if (held !== image.id) throw new CrucibleError(`the exported archive holds ${held}, not ${image.id}`);
  await writeFile(path.join(folder, BUILT_IMAGE_FILE), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** Makes an experiment's own image available and returns it with its provenance. Refusals throw PolicyRejectedError. */
export async function prepareExperimentImage(
  docker: Docker,
  request: ImageRequest,
  log: (line: string) => void = () => undefined,
): Promise<ImageRef> {
  const { source, policy } = request;
  if (source.kind === "registry") {
    checkImageSourceAgainstPolicy(source, policy);
    if (request.approved && request.approved.digest !== source.digest) {
      throw new PolicyRejectedError(`image digest ${source.digest} is not the approved ${request.approved.digest}; nothing was pulled`);
    }
    const image = await pullPinned(docker, source, policy, log);
    return {
      name: source.reference,
      ref: `${source.registry}/${source.repository}@${source.digest}`,
      id: image.Id,
      recipeHash: "",
      source: "registry",
      digest: source.digest,
    };
  }
  const contextDir = path.join(request.experimentDir, source.context);
  const dockerfilePath = path.join(request.experimentDir, source.dockerfile);
  const dockerfileBytes = await readFile(dockerfilePath);
  const dockerfileHash = `sha256:${createHash("sha256").update(dockerfileBytes).digest("hex")}`;
  if (request.approved) return loadApproved(docker, request, dockerfileHash, log);
  return buildLocally(docker, request, { contextDir, dockerfilePath, dockerfileBytes, dockerfileHash }, log);
}

async function buildLocally(
  docker: Docker,
  request: ImageRequest,
  dockerfile: { contextDir: string; dockerfilePath: string; dockerfileBytes: Buffer; dockerfileHash: string },
  log: (line: string) => void,
): Promise<ImageRef> {
  const { policy } = request;
  const relativeDockerfile = path.relative(dockerfile.contextDir, dockerfile.dockerfilePath).split(path.sep).join("/");
  if (relativeDockerfile.startsWith("../"))
    throw new PolicyRejectedError(`the Dockerfile ${dockerfile.dockerfilePath} must be inside its build context ${dockerfile.contextDir}`);
  const recipes = (await readdir(request.imagesDir).catch(() => [] as string[])).sort();
  const { bases, runSteps } = analyseDockerfile(dockerfile.dockerfileBytes.toString("utf8"), relativeDockerfile, recipes);
  if (runSteps.length > 0 && policy.runSteps !== "default-runtime") {
    throw new PolicyRejectedError(
      `the Dockerfile has RUN steps (line ${runSteps.map((s) => s.line).join(", ")}), which Docker's builder executes under the daemon's default runtime, outside gVisor; ` +
        `this host's policy (images.runSteps) refuses them. In a pull request the hosted build job builds them; on your own machine, set images.runSteps to "default-runtime" in a policy of your own ($CRUCIBLE_POLICY)`,
    );
  }
  // Base images first: their identity is part of what the tag stands for.
  const buildargs: Record<string, string> = {};
  const baseRecords: string[] = [];
  for (const base of bases) {
    if (base.kind === "recipe") {
      const recipeImage = await ensureImage(docker, request.imagesDir, base.name, log);
      buildargs[base.arg] = recipeImage.ref;
      baseRecords.push(`${recipeImage.ref}@${recipeImage.id}`);
    } else if (base.kind === "registry") {
      checkImageSourceAgainstPolicy(base.source, policy);
      const pulled = await pullPinned(docker, base.source, policy, log);
      baseRecords.push(`${base.source.registry}/${base.source.repository}@${base.source.digest} (${pulled.Id})`);
    }
  }
  const context = await hashContext(dockerfile.contextDir, request.experimentDir);
  const key = createHash("sha256")
    .update(context.hash)
    .update(`\0${relativeDockerfile}\0${baseRecords.join("\n")}`)
    .digest("hex")
    .slice(0, 16);
  const tag = `${EXPERIMENT_IMAGE_REPOSITORY}/${request.experimentName}:${key}`;
  const baseImage = baseRecords.join(", ");
  const existing = await inspectOrUndefined(docker, tag);
  if (existing) {
    log(`image ${tag} is up to date (${existing.Id}): its build context, Dockerfile and base image have not changed`);
    return builtRef(request, tag, existing.Id, dockerfile.dockerfileHash, baseImage, context.hash);
  }
  log(
    `building image ${tag} from ${relativeDockerfile} (${context.files.length} files in the context${runSteps.length > 0 ? `; ${runSteps.length} RUN step(s) under the daemon's default runtime, as this policy allows` : "; no RUN steps: nothing executes during the build"})`,
  );
  const stream = await docker.buildImage({ context: dockerfile.contextDir, src: context.files }, {
    t: tag,
    dockerfile: relativeDockerfile,
    buildargs,
    labels: {
      [EXPERIMENT_IMAGE_LABEL]: "true",
      "crucible.experiment": request.experimentName,
      [CONTEXT_HASH_LABEL]: context.hash,
      [DOCKERFILE_HASH_LABEL]: dockerfile.dockerfileHash,
      [BASE_IMAGE_LABEL]: baseImage,
    },
    // RUN steps get no network: nothing is fetched while an experiment's image is built.
    networkmode: "none",
    pull: "",
    rm: true,
    forcerm: true,
  } as unknown as Docker.ImageBuildOptions);
  await followLogged(docker, stream, "docker build", log);
  const built = await docker.getImage(tag).inspect();
  await enforceImagePolicy(docker, built, policy, tag);
  log(`built image ${tag} (${built.Id}, ${formatBytes(built.Size)})`);
  return builtRef(request, tag, built.Id, dockerfile.dockerfileHash, baseImage, context.hash);
}

function builtRef(
  request: ImageRequest,
  tag: string,
  id: string,
  dockerfileHash: string,
  baseImage: string,
  contextHash: string,
): ImageRef {
  const source = request.source as Extract<ImageSource, { kind: "build" }>;
  return {
    name: `build:${source.dockerfile}`,
    ref: tag,
    id,
    recipeHash: "",
    source: "build",
    digest: id,
    dockerfileHash,
    baseImage,
    contextHash: `sha256:${contextHash}`,
  };
}

/**
 * A sandbox host runs a Dockerfile image only as the archive the hosted build job exported (or an image
 * already on the host with exactly that id, e.g. when reproducing a run), and only when its digest (the
 * image id: sha256 of its configuration, which names every layer by digest) is the one the reviewer
 * approved. An archive is checked before Docker reads it, and the image again after loading.
 */
async function loadApproved(docker: Docker, request: ImageRequest, dockerfileHash: string, log: (line: string) => void): Promise<ImageRef> {
  const approved = request.approved!;
  if (approved.digest === "") {
    throw new PolicyRejectedError(
      "no approved image digest was given: a sandbox host runs an experiment's Dockerfile image only as the pull request's build job exported it, by the digest the reviewer approved; it never builds one",
    );
  }
  if (!DIGEST.test(approved.digest))
    throw new PolicyRejectedError(`the approved image digest ${JSON.stringify(approved.digest)} is not sha256:<64 hex digits>`);
  const already = await inspectOrUndefined(docker, approved.digest);
  if (approved.archive) {
    const size = (await lstat(approved.archive)).size;
    if (size > request.policy.maxImageBytes)
      throw new PolicyRejectedError(
        `the image archive is ${formatBytes(size)}, above the runner's limit of ${formatBytes(request.policy.maxImageBytes)}`,
      );
    const archiveDigest = await archiveImageDigest(approved.archive);
    if (archiveDigest !== approved.digest) {
      throw new PolicyRejectedError(
        `the image archive holds ${archiveDigest}, not the approved digest ${approved.digest}: refused, nothing was loaded`,
      );
    }
    if (!already) {
      log(`loading the approved image ${approved.digest} (${formatBytes(size)})`);
      await followLogged(docker, await docker.loadImage(createReadStream(approved.archive), { quiet: true }), "docker load", log);
    }
  } else if (!already) {
    throw new PolicyRejectedError(
      `image ${approved.digest} is not on this host and no image archive was given: the sandbox host never builds a Dockerfile; pass the build job's archive (the run action's image-archive input, or crucible run --image-archive)`,
    );
  } else {
    log(`using image ${approved.digest}, already on this host`);
  }
  const image = await docker.getImage(approved.digest).inspect();
  if (image.Id !== approved.digest) throw new PolicyRejectedError(`the loaded image is ${image.Id}, not the approved ${approved.digest}`);
  await enforceImagePolicy(docker, image, request.policy, approved.digest);
  const labels = image.Config?.Labels ?? {};
  if (labels[DOCKERFILE_HASH_LABEL] && labels[DOCKERFILE_HASH_LABEL] !== dockerfileHash) {
    throw new PolicyRejectedError(
      `the approved image was built from a Dockerfile with hash ${labels[DOCKERFILE_HASH_LABEL]}, but the planned commit's Dockerfile has ${dockerfileHash}`,
    );
  }
  const source = request.source as Extract<ImageSource, { kind: "build" }>;
  return {
    name: `build:${source.dockerfile}`,
    ref: approved.digest,
    id: image.Id,
    recipeHash: "",
    source: "build",
    digest: image.Id,
    dockerfileHash,
    ...(labels[BASE_IMAGE_LABEL] ? { baseImage: labels[BASE_IMAGE_LABEL] } : {}),
    ...(labels[CONTEXT_HASH_LABEL] ? { contextHash: `sha256:${labels[CONTEXT_HASH_LABEL]}` } : {}),
  };
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

/** Pulls `registry/repository@digest` with the runner's credentials for that registry, and checks what arrived. */
async function pullPinned(
  docker: Docker,
  source: Extract<ImageSource, { kind: "registry" }>,
  policy: ImagePolicy,
  log: (line: string) => void,
): Promise<Docker.ImageInspectInfo> {
  const pinned = `${source.registry}/${source.repository}@${source.digest}`;
  let image = await inspectOrUndefined(docker, pinned);
  if (!image) {
    log(`pulling ${pinned}`);
    const authconfig = await registryAuth(policy, source.registry);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.pull(pinned, authconfig ? { authconfig } : {});
    } catch (error) {
      throw new SandboxUnavailableError(`cannot pull ${pinned}: ${(error as Error).message}`);
    }
    await followLogged(docker, stream, `docker pull ${pinned}`, (line) => log(line));
    image = await docker.getImage(pinned).inspect();
  }
  // Docker resolves name@digest only to content with that digest; checked again rather than assumed.
  if (!(image.RepoDigests ?? []).includes(`${source.registry}/${source.repository}@${source.digest}`)) {
    throw new PolicyRejectedError(
      `the pulled image does not carry the digest ${source.digest} (it has ${(image.RepoDigests ?? []).join(", ") || "none"})`,
    );
  }
  await enforceImagePolicy(docker, image, policy, pinned);
  return image;
}

/**
 * What an image may not bring, checked with its size. VOLUME makes Docker mount a fresh folder of the
 * host's disk, writable, past the read-only root and the output limit (the containment suite's
 * own-image attack showed it under runsc: 20 MiB written to a 252G host filesystem); HEALTHCHECK makes
 * the daemon run the image's command in the sandbox on its own schedule. Everything else an image sets
 * (user, entrypoint, working directory, network) the sandbox configuration overrides.
 */
async function enforceImagePolicy(docker: Docker, image: Docker.ImageInspectInfo, policy: ImagePolicy, what: string): Promise<void> {
  const volumes = Object.keys(image.Config?.Volumes ?? {});
  const healthcheck = (image.Config as { Healthcheck?: { Test?: string[] } } | undefined)?.Healthcheck?.Test;
  const refusals: string[] = [];
  if (volumes.length > 0)
    refusals.push(
      `it declares VOLUME ${volumes.join(", ")}, which Docker would back with a writable folder on the host's disk, outside the read-only root and the output limit (write to /output or /tmp instead)`,
    );
  if (healthcheck && healthcheck[0] !== "NONE")
    refusals.push("it declares a HEALTHCHECK, which the Docker daemon would run in the sandbox on its own schedule");
  if (refusals.length > 0) {
    await removeImage(docker, image.Id);
    throw new PolicyRejectedError(`image ${what} is refused: ${refusals.join("; ")}; it was removed`);
  }
  await enforceSize(docker, image, policy, what);
}

async function removeImage(docker: Docker, id: string): Promise<void> {
  // A refused image is not kept around for a later run to pick up.
  await docker
    .getImage(id)
    .remove({ force: true })
    .catch(() => undefined);
}

async function enforceSize(docker: Docker, image: Docker.ImageInspectInfo, policy: ImagePolicy, what: string): Promise<void> {
  if (image.Size <= policy.maxImageBytes) return;
  await removeImage(docker, image.Id);
  throw new PolicyRejectedError(
    `image ${what} is ${formatBytes(image.Size)}, above the runner's limit of ${formatBytes(policy.maxImageBytes)} (images.maxImageSize); it was removed`,
  );
}

async function inspectOrUndefined(docker: Docker, reference: string): Promise<Docker.ImageInspectInfo | undefined> {
  return docker
    .getImage(reference)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined;
      throw error;
    });
}

/** Follows a build, pull or load stream, passing each line of its log on as it arrives; an error event fails it. */
function followLogged(docker: Docker, stream: NodeJS.ReadableStream, what: string, log: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) =>
        error
          ? reject(new CrucibleError(`${what} failed: ${error.message}`))
          : failed
            ? reject(new CrucibleError(`${what} failed: ${failed}`))
            : resolve(),
      (event: { stream?: string; status?: string; id?: string; error?: string; errorDetail?: { message?: string } }) => {
        if (event.error) failed = event.errorDetail?.message ?? event.error;
        const text = event.stream ?? (event.status ? `${event.id ? `${event.id}: ` : ""}${event.status}` : "");
        for (const line of text.split("\n")) if (line.trim()) log(`  ${line.trimEnd()}`);
      },
    );
  });
}

/** Removes experiment images no container uses, except the newest `keep` per experiment. */
export async function pruneExperimentImages(
  docker: Docker,
  options: { keep?: number; scope?: string } = {},
): Promise<{ id: string; tags: string[] }[]> {
  const keep = options.keep ?? 1;
  const filters = [`${EXPERIMENT_IMAGE_LABEL}=true`, ...(options.scope ? [options.scope] : [])];
  const images = await docker.listImages({ filters: { label: filters } });
  const used = new Set((await docker.listContainers({ all: true })).map((c) => c.ImageID));
  const byExperiment = new Map<string, Docker.ImageInfo[]>();
  for (const image of images) {
    const name = image.Labels?.["crucible.experiment"] ?? "";
    byExperiment.set(name, [...(byExperiment.get(name) ?? []), image]);
  }
  const removed: { id: string; tags: string[] }[] = [];
  for (const list of byExperiment.values()) {
    list.sort((a, b) => b.Created - a.Created);
    for (const image of list.slice(keep)) {
      if (used.has(image.Id)) continue;
      await docker
        .getImage(image.Id)
        .remove({ force: false })
        .then(() => removed.push({ id: image.Id, tags: image.RepoTags ?? [] }))
        .catch((error: { statusCode?: number }) => {
          // In use by a container created meanwhile, or already gone: either way it stays out of the report.
          if (error.statusCode !== 409 && error.statusCode !== 404) throw error;
        });
    }
  }
  return removed;
}
