import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import type Docker from "dockerode";
import { analyseDockerfile, hashContext } from "../dockerfile.js";
import { CrucibleError, errorMessage, PolicyRejectedError, SandboxUnavailableError } from "../errors.js";
import { archiveImageDigest, BUILT_IMAGE_ARCHIVE, BUILT_IMAGE_FILE, type BuiltImageRecord } from "../image-archive.js";
import {
  checkImageSourceAgainstPolicy,
  DIGEST,
  registryAuth,
  type ImagePolicy,
  type ImageRequest,
  type ImageSource,
} from "../image-source.js";
import type { ImageRef } from "../sandbox/sandbox.js";
import { formatBytes } from "../units.js";
import { ensureImage, inspectImageOrUndefined } from "./image.js";

/** Labels every image Crucible builds from an experiment's Dockerfile carries; `crucible gc` looks for the first. */
export const EXPERIMENT_IMAGE_LABEL = "crucible.experiment-image";
export const CONTEXT_HASH_LABEL = "crucible.context-hash";
export const DOCKERFILE_HASH_LABEL = "crucible.dockerfile-hash";
export const BASE_IMAGE_LABEL = "crucible.base-image";
/** Repository of locally built experiment images: crucible-experiment/<name>:<context hash>. */
export const EXPERIMENT_IMAGE_REPOSITORY = "crucible-experiment";

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
      `the Dockerfile has RUN steps (line ${runSteps.map((s) => s.line).join(", ")}), which Docker's builder ` +
        `executes under the daemon's default runtime, outside gVisor; ` +
        `this host's policy (images.runSteps) refuses them. In a pull request the hosted build job builds them; on your ` +
        `own machine, set images.runSteps to "default-runtime" in a policy of your own ($CRUCIBLE_POLICY)`,
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
  const existing = await inspectImageOrUndefined(docker, tag);
  if (existing) {
    log(`image ${tag} is up to date (${existing.Id}): its build context, Dockerfile and base image have not changed`);
    return builtRef(request, tag, existing.Id, dockerfile.dockerfileHash, baseImage, context.hash);
  }
  const steps =
    runSteps.length > 0
      ? `${runSteps.length} RUN step(s) under the daemon's default runtime, as this policy allows`
      : "no RUN steps: nothing executes during the build";
  log(`building image ${tag} from ${relativeDockerfile} (${context.files.length} files in the context; ${steps})`);
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
      "no approved image digest was given: a sandbox host runs an experiment's Dockerfile image only as the pull request's " +
        "build job exported it, by the digest the reviewer approved; it never builds one",
    );
  }
  if (!DIGEST.test(approved.digest))
    throw new PolicyRejectedError(`the approved image digest ${JSON.stringify(approved.digest)} is not sha256:<64 hex digits>`);
  const already = await inspectImageOrUndefined(docker, approved.digest);
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
      `image ${approved.digest} is not on this host and no image archive was given: the sandbox host never builds a ` +
        `Dockerfile; pass the build job's archive (the run action's image-archive input, or crucible run --image-archive)`,
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
      `the approved image was built from a Dockerfile with hash ${labels[DOCKERFILE_HASH_LABEL]}, but ` +
        `the planned commit's Dockerfile has ${dockerfileHash}`,
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

/** Pulls `registry/repository@digest` with the runner's credentials for that registry, and checks what arrived. */
async function pullPinned(
  docker: Docker,
  source: Extract<ImageSource, { kind: "registry" }>,
  policy: ImagePolicy,
  log: (line: string) => void,
): Promise<Docker.ImageInspectInfo> {
  const pinned = `${source.registry}/${source.repository}@${source.digest}`;
  let image = await inspectImageOrUndefined(docker, pinned);
  if (!image) {
    log(`pulling ${pinned}`);
    const authconfig = await registryAuth(policy, source.registry);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.pull(pinned, authconfig ? { authconfig } : {});
    } catch (error) {
      throw new SandboxUnavailableError(`cannot pull ${pinned}: ${errorMessage(error)}`);
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
      `it declares VOLUME ${volumes.join(", ")}, which Docker would back with a writable folder on the host's disk, outside ` +
        `the read-only root and the output limit (write to /output or /tmp instead)`,
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
    `image ${what} is ${formatBytes(image.Size)}, above the runner's limit of ${formatBytes(policy.maxImageBytes)} ` +
      `(images.maxImageSize); it was removed`,
  );
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
