// An experiment's own image: the three forms of `image`, where a wrong one is reported, and what the
// runner policy allows (registries, size, Dockerfile RUN steps). No Docker needed here.
import { chmod, mkdtemp, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  analyseDockerfile,
  hashContext,
  checkImageSourceAgainstPolicy,
  ExperimentInvalidError,
  imageSourceOf,
  loadExperiment,
  loadPolicy,
  parseDockerfile,
  PolicyRejectedError,
  registryAuth,
  resolveImagePolicy,
} from "../actions/lib/src/index.js";
import { imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function yamlWithImage(name: string, imageLines: string): string {
  return [
    "apiVersion: crucible/v1",
    `name: ${name}`,
    "description: brings its own image",
    imageLines,
    "command: [python3, main.py]",
    "inputs: [main.py]",
    "resources: { cpus: 1, memory: 256Mi, timeout: 60s }",
    "",
  ].join("\n");
}

async function problems(files: Record<string, string>): Promise<string[]> {
  const file = await makeExperiment("own-image", { "main.py": "", ...files });
  try {
    await loadExperiment(file, { imagesDir });
  } catch (error) {
    if (error instanceof ExperimentInvalidError) return error.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
    throw error;
  }
  return [];
}

describe("the image field", () => {
  it("accepts a recipe, a Dockerfile build and a digest-pinned reference", async () => {
    const recipe = await makeExperiment("own-image", { "experiment.yaml": yamlWithImage("own-image", "image: base"), "main.py": "" });
    expect((await loadExperiment(recipe, { imagesDir })).image).toEqual({ kind: "recipe", name: "base" });

    const built = await makeExperiment("own-image", {
      "experiment.yaml": yamlWithImage("own-image", "image:\n  build: { dockerfile: env/Dockerfile, context: env }"),
      "main.py": "",
      "env/Dockerfile": "FROM scratch\n",
    });
    expect((await loadExperiment(built, { imagesDir })).image).toEqual({ kind: "build", dockerfile: "env/Dockerfile", context: "env" });

    const defaultContext = await makeExperiment("own-image", {
      "experiment.yaml": yamlWithImage("own-image", "image: { build: { dockerfile: Dockerfile } }"),
      "main.py": "",
      Dockerfile: "FROM scratch\n",
    });
    expect((await loadExperiment(defaultContext, { imagesDir })).image).toEqual({ kind: "build", dockerfile: "Dockerfile", context: "." });

    const pinned = await makeExperiment("own-image", {
      "experiment.yaml": yamlWithImage("own-image", `image: 127.0.0.1:5000/org/eval-env:1.2@${DIGEST}`),
      "main.py": "",
    });
    expect((await loadExperiment(pinned, { imagesDir })).image).toEqual({
      kind: "registry",
      reference: `127.0.0.1:5000/org/eval-env:1.2@${DIGEST}`,
      registry: "127.0.0.1:5000",
      repository: "org/eval-env",
      digest: DIGEST,
    });
  });

  it("refuses a tag without a digest at its line and column, with the fix", async () => {
    expect(await problems({ "experiment.yaml": yamlWithImage("own-image", "image: registry.example/org/eval-env:1.2") })).toEqual([
      '4:8: image "registry.example/org/eval-env:1.2" is a tag without a digest, and a tag can point at other contents ' +
        "after the run was reviewed: pin it by digest, image: registry.example/org/eval-env@sha256:<64 hex digits> (`docker " +
        "inspect --format '{{index .RepoDigests 0}}' registry.example/org/eval-env:1.2` prints it after a pull)",
    ]);
    // Without a tag the reference is just as movable (it means :latest).
    expect((await problems({ "experiment.yaml": yamlWithImage("own-image", "image: registry.example/org/eval-env") }))[0]).toMatch(
      /^4:8: image "registry.example\/org\/eval-env" is a tag without a digest.*pin it by digest/,
    );
  });

  it("asks for the registry host and a well-formed digest", async () => {
    expect((await problems({ "experiment.yaml": yamlWithImage("own-image", "image: python:3.12") }))[0]).toMatch(
      new RegExp(
        /^4:8: image "python:3.12" is not a recipe name .* /.source +
          /names its registry host and is pinned by digest, for example registry.example\/org\/python@sha256:/.source,
      ),
    );
    expect((await problems({ "experiment.yaml": yamlWithImage("own-image", "image: registry.example/org/x@sha256:abc") }))[0]).toMatch(
      /^4:8: image "registry.example\/org\/x@sha256:abc" has a malformed digest/,
    );
  });

  it("points at a wrong build key, a missing Dockerfile and a context outside the folder", async () => {
    expect(
      await problems({
        "experiment.yaml": yamlWithImage("own-image", "image:\n  build: { dockerfile: Dockerfile, target: gpu }"),
        Dockerfile: "FROM scratch\n",
      }),
    ).toEqual(['5:36: unknown key "target" in image.build']);
    expect(await problems({ "experiment.yaml": yamlWithImage("own-image", "image:\n  build: { dockerfile: Dockerfile }") })).toEqual([
      expect.stringMatching(/^5:24: dockerfile "Dockerfile" does not exist/),
    ]);
    expect(
      await problems({
        "experiment.yaml": yamlWithImage("own-image", "image:\n  build: { dockerfile: Dockerfile, context: ../.. }"),
        Dockerfile: "FROM scratch\n",
      }),
    ).toEqual([expect.stringMatching(/^5:45: image.build.context "..\/.." is not in the expected form/)]);
  });
});

describe("the runner policy for brought images", () => {
  it("has safe defaults: no registry, 8Gi, RUN steps refused", async () => {
    const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
    expect(policy.images).toEqual({ allowedRegistries: [], credentials: {}, maxImageBytes: 8 * 1024 ** 3, runSteps: "refuse" });
  });

  it("refuses a registry that is not allowed, naming the allowed ones", () => {
    const source = imageSourceOf(`evil.example/x/y@${DIGEST}`);
    const policy = resolveImagePolicy({ allowedRegistries: ["127.0.0.1:5000"] });
    expect(() => checkImageSourceAgainstPolicy(source, policy)).toThrow(PolicyRejectedError);
    expect(() => checkImageSourceAgainstPolicy(source, policy)).toThrow(
      "image registry evil.example is not allowed (images.allowedRegistries: 127.0.0.1:5000); nothing was pulled",
    );
    expect(() => checkImageSourceAgainstPolicy(imageSourceOf(`127.0.0.1:5000/x/y@${DIGEST}`), policy)).not.toThrow();
  });

  it("reads registry credentials only from the file the policy names", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-creds-"));
    await writeFile(path.join(dir, "reg.json"), JSON.stringify({ username: "ci", password: "s3cret" }));
    await writeFile(path.join(dir, "bad.json"), JSON.stringify({ user: "ci" }));
    const policy = resolveImagePolicy({
      allowedRegistries: ["a.example", "b.example"],
      credentials: { "a.example": path.join(dir, "reg.json"), "b.example": path.join(dir, "bad.json") },
    });
    expect(await registryAuth(policy, "a.example")).toEqual({ username: "ci", password: "s3cret", serveraddress: "a.example" });
    expect(await registryAuth(policy, "c.example")).toBeUndefined();
    await expect(registryAuth(policy, "b.example")).rejects.toThrow(/must be \{"username"/);
  });

  it("rejects a policy file with an unknown images key", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-policy-"));
    const document = JSON.parse(
      await import("node:fs/promises").then((fs) => fs.readFile(path.join(repoRoot, "runner-setup/policy.json"), "utf8")),
    );
    await writeFile(
      path.join(dir, "p.json"),
      JSON.stringify({ ...document, images: { allowedRegistries: ["ok.example"], pullAnything: true } }),
    );
    await expect(loadPolicy(path.join(dir, "p.json"))).rejects.toThrow(/unknown key "pullAnything" in images/);
  });
});

describe("Dockerfiles", () => {
  const recipes = ["attacker", "base", "research"];

  it("joins continuation lines and skips comments", () => {
    expect(parseDockerfile("# syntax note\nFROM scratch\nRUN echo a \\\n  # inner comment\n  && echo b\n\nCOPY a /a\n")).toEqual([
      { line: 2, keyword: "FROM", args: "scratch" },
      { line: 3, keyword: "RUN", args: "echo a  && echo b" },
      { line: 7, keyword: "COPY", args: "a /a" },
    ]);
  });

  it("resolves recipe bases through their build argument and counts RUN steps", () => {
    const { bases, runSteps } = analyseDockerfile(
      `ARG CRUCIBLE_BASE\nFROM \${CRUCIBLE_BASE} AS env\nRUN true\nFROM env\nONBUILD RUN id\nFROM 127.0.0.1:5000/a/b@${DIGEST}\n`,
      "Dockerfile",
      recipes,
    );
    expect(bases).toEqual([
      { kind: "recipe", name: "base", arg: "CRUCIBLE_BASE" },
      { kind: "stage", name: "env" },
      { kind: "registry", source: imageSourceOf(`127.0.0.1:5000/a/b@${DIGEST}`) },
    ]);
    expect(runSteps.map((s) => s.line)).toEqual([3, 5]);
  });

  it("refuses a tagged base and ADD from a URL, at their lines", () => {
    expect(() => analyseDockerfile("FROM python:3.12\nADD https://evil.example/x /x\n", "Dockerfile", recipes)).toThrow(
      new RegExp(
        /Dockerfile:1: FROM python:3.12 is neither a Crucible image nor pinned by digest: /.source +
          /write `ARG CRUCIBLE_BASE` before it and `FROM \$\{CRUCIBLE_BASE\}` .*; Dockerfile:2: ADD from a URL/.source,
      ),
    );
    expect(() => analyseDockerfile("FROM ${CRUCIBLE_NOPE}\n", "Dockerfile", recipes)).toThrow(/FROM \$\{CRUCIBLE_NOPE\} is neither/);
  });
});

describe("the build context's hash", () => {
  it("covers paths, modes and contents, leaves the experiment's results out and refuses symbolic links", async () => {
    const file = await makeExperiment("ctx", {
      "experiment.yaml": "",
      Dockerfile: "FROM scratch\n",
      "app/a.txt": "a",
      "results/r1/result.json": "{}",
    });
    const dir = path.dirname(file);
    const first = await hashContext(dir, dir);
    expect(first.files).toEqual(["Dockerfile", "app/a.txt", "experiment.yaml"]);
    await writeFile(path.join(dir, "results/r1/result.json"), '{"changed": true}');
    expect((await hashContext(dir, dir)).hash).toBe(first.hash);
    await writeFile(path.join(dir, "app/a.txt"), "b");
    expect((await hashContext(dir, dir)).hash).not.toBe(first.hash);
    await chmod(path.join(dir, "app/a.txt"), 0o755);
    const afterMode = await hashContext(dir, dir);
    await chmod(path.join(dir, "app/a.txt"), 0o644);
    expect((await hashContext(dir, dir)).hash).not.toBe(afterMode.hash);
    await symlink("/etc/passwd", path.join(dir, "app/link"));
    await expect(hashContext(dir, dir)).rejects.toThrow(/the build context holds a symbolic link .*app\/link/);
  });
});
