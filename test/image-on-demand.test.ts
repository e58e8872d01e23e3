// Recipe images are built by the first run that needs them, not at set-up: a tiny recipe (mmdebstrap's
// `essential` variant, a fresh hash each time so it is always missing) built for real with mmdebstrap and
// `docker import`, by two runs started together, which build it once and both run in it under runsc.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { loadExperiment, loadPolicy, runExperiment } from "../actions/lib/src/index.js";
import { DockerSandboxProvider, readRecipe } from "../actions/lib/src/docker/index.js";
import { experimentYaml, makeExperiment, repoRoot } from "./support/repo.js";

const docker = new Docker();
const built: string[] = [];

afterAll(async () => {
  // Only the image this test made.
  for (const ref of built)
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
});

describe("recipe images built on demand", () => {
  it("two runs needing the same missing image build it once, with progress lines, and both run in it", async () => {
    const imagesDir = await mkdtemp(path.join(os.tmpdir(), "crucible-images-"));
    await mkdir(path.join(imagesDir, "tiny"));
    const recipe = { suite: "bookworm", variant: "essential", packages: [], env: { CRUCIBLE_TEST_NONCE: randomBytes(6).toString("hex") } };
    await writeFile(path.join(imagesDir, "tiny", "recipe.json"), JSON.stringify(recipe));
    const { ref } = await readRecipe(imagesDir, "tiny");
    built.push(ref);
    expect(
      await docker
        .getImage(ref)
        .inspect()
        .catch(() => undefined),
    ).toBeUndefined();

    const policy = await loadPolicy(path.join(repoRoot, "runner-setup/policy.json"));
    const yaml = experimentYaml("tiny-image", { command: "[/bin/sh, -c, 'cat /etc/debian_version']", inputs: "[]" });
    const runs = await Promise.all(
      ["first", "second"].map(async (which) => {
        const file = await makeExperiment("tiny-image", { "experiment.yaml": yaml.replace("image: base", "image: tiny") });
        const lines: string[] = [];
        const output: string[] = [];
        const { result } = await runExperiment({
          experiment: await loadExperiment(file, { imagesDir }),
          policy,
          provider: new DockerSandboxProvider(policy.runtime, imagesDir),
          repoRoot: path.dirname(path.dirname(path.dirname(file))),
          events: { info: (line) => lines.push(line), line: (line) => output.push(line.text) },
        });
        return { which, result, lines, output };
      }),
    );
    const builders = runs.filter((r) => r.lines.some((l) => l.startsWith(`building image ${ref}`)));
    expect(builders).toHaveLength(1);
    const builder = builders[0]!;
    // Progress: mmdebstrap's own lines, the import, and the finished build with its size and time.
    expect(builder.lines.some((l) => /^ {2}I: /.test(l))).toBe(true);
    expect(builder.lines).toContain(`importing ${ref} into Docker`);
    expect(builder.lines.some((l) => new RegExp(`^built image ${ref} \\(sha256:[0-9a-f]{64}, \\d+ MB\\) in \\d+ s$`).test(l))).toBe(true);
    const waiter = runs.find((r) => r !== builder)!;
    expect(waiter.lines.some((l) => l.startsWith(`image ${ref} was built by another process meanwhile`))).toBe(true);
    expect(waiter.lines.some((l) => l.startsWith(`building image`))).toBe(false);

    const image = await docker.getImage(ref).inspect();
    for (const { result, output } of runs) {
      expect(result.status, result.statusReason).toBe("succeeded");
      expect(result.image).toMatchObject({ name: "tiny", ref, id: image.Id });
      expect(output.join("\n")).toMatch(/^12\.\d+$/m);
    }
    // Built once: a third run finds it up to date.
    const again = await new DockerSandboxProvider(policy.runtime, imagesDir).prepareImage("tiny");
    expect(again.id).toBe(image.Id);
  }, 900_000);
});
