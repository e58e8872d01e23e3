import { readFile } from "node:fs/promises";
import type { ExperimentDocument } from "./contracts/experiment.js";
import type { PolicyDocument } from "./contracts/policy.js";
import { CrucibleError, errorMessage, PolicyRejectedError } from "./errors.js";
import { parseJsonWithin } from "./limits.js";
import { parseMemory } from "./units.js";

/** `image` as written in an experiment file (schemas/experiment.schema.json). */
export type ImageSpec = ExperimentDocument["image"];

/** Where an experiment's image comes from, resolved from its `image`. */
export type ImageSource =
  | { kind: "recipe"; name: string }
  | { kind: "build"; dockerfile: string; context: string }
  | { kind: "registry"; reference: string; registry: string; repository: string; digest: string };

const RECIPE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const HOST = "[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?";
/** host[:port]/path[:tag]@sha256:<hex>: the same form as the schema's. */
const PINNED = new RegExp(`^(${HOST})/(${COMPONENT}(?:/${COMPONENT})*)(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@(sha256:[0-9a-f]{64})$`);
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The image source an experiment's (schema-valid) `image` names. */
export function imageSourceOf(image: ImageSpec): ImageSource {
  if (typeof image !== "string") return { kind: "build", dockerfile: image.build.dockerfile, context: image.build.context ?? "." };
  if (RECIPE_NAME.test(image)) return { kind: "recipe", name: image };
  const match = PINNED.exec(image);
  if (!match) throw new CrucibleError(`image "${image}" is neither a recipe name nor a digest-pinned reference`);
  const [, registry, repository, digest] = match as unknown as [string, string, string, string];
  return { kind: "registry", reference: image, registry, repository, digest };
}

/** One line naming an image source, for tables and logs. */
export function imageLabel(image: ImageSpec): string {
  const source = imageSourceOf(image);
  if (source.kind === "recipe") return source.name;
  if (source.kind === "build") return `build ${source.context === "." ? "" : `${source.context}/`}${source.dockerfile}`;
  return source.reference;
}

/**
 * Why a string `image` is not valid, in one message with the fix, or undefined when it is. The schema's
 * own errors for `image` (one per oneOf branch) say nothing a researcher can act on; this replaces them.
 */
export function imageStringProblem(image: string): string | undefined {
  if (RECIPE_NAME.test(image) || PINNED.test(image)) return undefined;
  const digestAt = image.indexOf("@");
  const name = digestAt >= 0 ? image.slice(0, digestAt) : image;
  const lastSlash = name.lastIndexOf("/");
  const tagAt = name.indexOf(":", lastSlash + 1);
  const repository = tagAt >= 0 ? name.slice(0, tagAt) : name;
  const firstComponent = repository.split("/")[0] ?? "";
  const hasRegistry =
    repository.includes("/") && (firstComponent.includes(".") || firstComponent.includes(":") || firstComponent === "localhost");
  if (!hasRegistry) {
    return (
      `image "${image}" is not a recipe name (lower-case letters, digits and dashes, for example \`base\`) and not a registry reference: ` +
      `a reference names its registry host and is pinned by digest, for example ` +
      `registry.example/org/${repository.split("/").pop() || "name"}@sha256:<64 hex digits>`
    );
  }
  if (digestAt < 0) {
    return (
      `image "${image}" is a tag without a digest, and a tag can point at other contents after the run was reviewed: pin it by digest, ` +
      `image: ${repository}@sha256:<64 hex digits> (\`docker inspect --format '{{index .RepoDigests 0}}' ${image}\` prints it after a pull)`
    );
  }
  if (!/^@sha256:[0-9a-f]{64}$/.test(image.slice(digestAt))) {
    return (
      `image "${image}" has a malformed digest: expected @sha256: and 64 lower-case hex digits, ` +
      `for example ${repository}@sha256:<64 hex digits>`
    );
  }
  return `image "${image}" is not a valid reference: lower-case host[:port]/path, an optional :tag, then @sha256:<64 hex digits>`;
}

/** The runner policy's `images` section as written (schemas/policy.schema.json). */
export type ImagePolicyDocument = NonNullable<PolicyDocument["images"]>;

/** What a runner allows of images that experiments bring. */
export interface ImagePolicy {
  allowedRegistries: string[];
  /** Registry host → file with {username, password}; read only when pulling from that host. */
  credentials: Record<string, string>;
  maxImageBytes: number;
  runSteps: "refuse" | "default-runtime";
}

export const DEFAULT_MAX_IMAGE_SIZE = "8Gi";

export function resolveImagePolicy(document: ImagePolicyDocument | undefined): ImagePolicy {
  return {
    allowedRegistries: document?.allowedRegistries ?? [],
    credentials: document?.credentials ?? {},
    maxImageBytes: parseMemory(document?.maxImageSize ?? DEFAULT_MAX_IMAGE_SIZE),
    runSteps: document?.runSteps ?? "refuse",
  };
}

/** Refuses a registry image whose registry the policy does not list; called before anything is pulled. */
export function checkImageSourceAgainstPolicy(source: ImageSource, policy: ImagePolicy): void {
  if (source.kind !== "registry") return;
  if (!policy.allowedRegistries.includes(source.registry)) {
    const allowed = policy.allowedRegistries.length > 0 ? policy.allowedRegistries.join(", ") : "none";
    throw new PolicyRejectedError(
      `the runner's policy refuses this experiment: image registry ${source.registry} is not allowed ` +
        `(images.allowedRegistries: ${allowed}); nothing was pulled`,
    );
  }
}

/** Docker's authconfig for a registry, from the runner's credentials file for it (or none). */
export async function registryAuth(
  policy: ImagePolicy,
  registry: string,
): Promise<{ username: string; password: string; serveraddress: string } | undefined> {
  const file = policy.credentials[registry];
  if (!file) return undefined;
  let parsed: unknown;
  try {
    parsed = parseJsonWithin(await readFile(file, "utf8"), { maxBytes: 64 * 1024, maxDepth: 4 });
  } catch (error) {
    throw new CrucibleError(
      `cannot read the credentials for registry ${registry} (${file}, from the runner policy): ${errorMessage(error)}`,
    );
  }
  const { username, password } = (parsed ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== "string" || typeof password !== "string") {
    throw new CrucibleError(`the credentials file for registry ${registry} (${file}) must be {"username": "…", "password": "…"}`);
  }
  return { username, password, serveraddress: registry };
}

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
