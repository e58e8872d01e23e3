import { createHash } from "node:crypto";
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { PolicyRejectedError } from "./errors.js";
import { imageSourceOf, type ImageSource } from "./image-source.js";

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
export type BaseImage =
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
            `${file}:${instruction.line}: FROM ${image} is neither a Crucible image nor pinned by ` +
              `digest: write \`ARG ${example}\` before it and ` +
              `\`FROM \${${example}}\` (images: ${recipes.map(recipeBuildArg).join(", ")}), or pin a registry ` +
              `image: FROM registry.example/org/name@sha256:<64 hex digits>`,
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
