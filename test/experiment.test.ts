// Experiment files: what the schema and the loader accept, and where they point when they refuse.
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ExperimentInvalidError, findExperimentFiles, formatIssue, loadExperiment, parseExperiment } from "../actions/lib/src/index.js";
import { experimentYaml, imagesDir, makeExperiment, repoRoot } from "./support/repo.js";

async function problems(file: string): Promise<string[]> {
  try {
    await loadExperiment(file, { imagesDir });
  } catch (error) {
    if (error instanceof ExperimentInvalidError) return error.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
    throw error;
  }
  return [];
}

describe("valid experiments", () => {
  it("loads the committed example with units resolved", async () => {
    const experiment = await loadExperiment(path.join(repoRoot, "experiments/hello-sandbox/experiment.yaml"), { imagesDir });
    expect(experiment.spec.command).toEqual(["python3", "main.py"]);
    expect(experiment.resources).toEqual({ cpus: 1, memoryBytes: 256 * 1024 * 1024, timeoutSeconds: 60, gpus: 0 });
    expect(experiment.inputs).toEqual([{ relative: "main.py", hostPath: path.join(repoRoot, "experiments/hello-sandbox/main.py") }]);
    expect(experiment.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("finds experiment files recursively and skips results folders", async () => {
    const file = await makeExperiment("a", { "experiment.yaml": experimentYaml("a"), "main.py": "", "results/x/experiment.yaml": "junk" });
    await makeExperiment("b", { "experiment.yaml": experimentYaml("b"), "main.py": "" }, path.resolve(file, "../../.."));
    const found = await findExperimentFiles([path.resolve(file, "../..")]);
    expect(found.map((f) => path.relative(path.resolve(file, "../.."), f))).toEqual(["a/experiment.yaml", "b/experiment.yaml"]);
  });
});

describe("schema errors point at the offending key or value", () => {
  const cases: [string, string, string[]][] = [
    ["unknown top-level key", experimentYaml("x", { extra: "colour: blue" }), ['11:1: unknown key "colour" in (top level)']],
    [
      "unknown nested key",
      experimentYaml("x", { resources: "  cpus: 1\n  memory: 256Mi\n  timeout: 60s\n  disk: 10Gi" }),
      ['11:3: unknown key "disk" in resources'],
    ],
    [
      "wrong type",
      experimentYaml("x", { resources: "  cpus: many\n  memory: 256Mi\n  timeout: 60s" }),
      ["8:9: resources.cpus must be number — CPU cores (fractions allowed), enforced as a CFS quota."],
    ],
    [
      "bad memory unit",
      experimentYaml("x", { resources: "  cpus: 1\n  memory: 1GB\n  timeout: 60s" }),
      [
        '9:11: resources.memory "1GB" is not in the expected form — ' +
          "Memory limit, swap included, as a number with a unit: Ki, Mi or Gi (for example 512Mi). " +
          "Exceeding it kills the sandbox (status oom-killed).",
      ],
    ],
    [
      "command as a shell string",
      experimentYaml("x", { command: "python3 main.py && curl evil" }),
      ["5:10: command must be an argv array such as [python3, main.py]; a shell string is refused because nothing is run through a shell"],
    ],
    ["network other than none", experimentYaml("x", { extra: "network: bridge" }), ['11:10: network must be "none"']],
    [
      "missing required key",
      experimentYaml("x", { resources: "  cpus: 1\n  memory: 256Mi" }),
      ['8:3: resources is missing the required key "timeout"'],
    ],
  ];
  it.each(cases)("%s", async (_label, yaml, expected) => {
    const file = await makeExperiment("x", { "experiment.yaml": yaml, "main.py": "" });
    expect(await problems(file)).toEqual(expected);
  });

  it("reports malformed YAML at the syntax error", () => {
    const { issues } = parseExperiment("apiVersion: crucible/v1\nname: x\ncommand: [python3, main.py\nimage: base\n", "bad.yaml");
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.message).toMatch(/^invalid YAML: /);
    expect(issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it("reports duplicate keys where the second one is", () => {
    const { issues } = parseExperiment("apiVersion: crucible/v1\nname: x\nname: y\n", "dup.yaml");
    expect(issues.map(formatIssue)).toEqual([expect.stringMatching(/^dup\.yaml:3:1: invalid YAML: Map keys must be unique/)]);
  });

  it("formats issues as path:line:column: message", () => {
    expect(formatIssue({ file: "experiments/a/experiment.yaml", line: 4, column: 7, message: "boom" })).toBe(
      "experiments/a/experiment.yaml:4:7: boom",
    );
  });
});

describe("checks beyond the schema", () => {
  it("refuses inputs that escape the experiment folder", async () => {
    const file = await makeExperiment("x", {
      "experiment.yaml": experimentYaml("x", { inputs: "[main.py, ../secret, /etc/passwd, link.py, missing.py]" }),
      "main.py": "",
    });
    await writeFile(path.resolve(file, "../../secret"), "s");
    await symlink("/etc/hostname", path.resolve(file, "../link.py"));
    expect(await problems(file)).toEqual([
      '6:19: input "../secret" must not contain `..`: inputs stay inside the experiment folder',
      '6:30: input "/etc/passwd" must be relative to the experiment folder',
      expect.stringMatching(/^6:43: input "link\.py" is or goes through a symbolic link/),
      expect.stringMatching(/^6:52: input "missing\.py" does not exist/),
    ]);
  });

  it("refuses a folder input reached through a symbolic link", async () => {
    const file = await makeExperiment("x", { "experiment.yaml": experimentYaml("x", { inputs: "[data/file.txt]" }) });
    await symlink("/etc", path.resolve(file, "../data"));
    expect(await problems(file)).toEqual([expect.stringMatching(/^6:10: input "data\/file\.txt" is or goes through a symbolic link/)]);
  });

  it("refuses an image without a recipe and a name that does not match the folder", async () => {
    const yaml = experimentYaml("other", {}).replace("image: base", "image: nosuchimage");
    const file = await makeExperiment("x", { "experiment.yaml": yaml, "main.py": "" });
    expect(await problems(file)).toEqual([
      '2:7: name "other" must equal the experiment\'s folder name "x"',
      expect.stringMatching(
        /^4:8: image "nosuchimage" has no recipe: expected .*runner-setup\/images\/nosuchimage\/recipe\.json; available: (.*, )?base\b/,
      ),
    ]);
  });

  it("refuses a billion-laughs alias bomb without expanding it", () => {
    const bomb = ["apiVersion: crucible/v1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(",")}]`,
      );
    const { issues } = parseExperiment(bomb.join("\n"), "bomb.yaml");
    expect(issues).toEqual([expect.objectContaining({ line: 1, column: 1, message: expect.stringMatching(/^invalid YAML: .*alias/i) })]);
  });

  it("refuses an oversized experiment file before reading it", async () => {
    const file = await makeExperiment("huge", {
      "experiment.yaml": `${experimentYaml("huge")}# ${"x".repeat(50 * 1024 * 1024)}\n`,
      "main.py": "",
    });
    expect(await problems(file)).toEqual([expect.stringMatching(/^1:1: the experiment file is \d+ bytes; the limit is 1048576/)]);
  });

  it("refuses a file that cannot be read", async () => {
    const dir = path.dirname(await makeExperiment("x", { "main.py": "" }));
    await mkdir(path.join(dir, "experiment.yaml"));
    expect((await problems(path.join(dir, "experiment.yaml")))[0]).toMatch(/^1:1: cannot read the experiment file/);
  });
});
