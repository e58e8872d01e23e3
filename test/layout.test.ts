// The README's Layout table matches the tree: every path it names exists, and every folder of the
// repository's shape (top level, each action, each part of the core) has its row.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/repo.js";

function layoutPaths(readme: string): string[] {
  const section = readme.split("\n## Layout\n")[1]?.split("\n## ")[0] ?? "";
  const rows = section.split("\n").filter((line) => line.startsWith("| `"));
  return rows.flatMap((row) => [...row.split(" | ")[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

/** Folders of the repository's shape, from the tracked files: top level, actions/*, actions/lib/src/*. */
function shapeFolders(files: string[]): string[] {
  const folders = new Set<string>();
  for (const file of files) {
    const parts = file.split("/");
    if (parts.length < 2) continue;
    if (parts[0] === ".github" && parts[1] === "workflows") folders.add(".github/workflows/");
    else if (parts[0] === "actions" && parts[1] === "lib" && parts[2] === "src" && parts.length > 4)
      folders.add(`actions/lib/src/${parts[3]}/`);
    else if (parts[0] === "actions" && parts[1] === "lib") folders.add("actions/lib/src/");
    else if (parts[0] === "actions" && parts.length > 2) folders.add(`actions/${parts[1]}/`);
    else if (!parts[0]!.startsWith(".")) folders.add(`${parts[0]}/`);
  }
  return [...folders].sort();
}

describe("README Layout table", () => {
  const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const listed = layoutPaths(readme);

  it("names only paths that exist", () => {
    expect(listed.length).toBeGreaterThan(5);
    expect(listed.filter((p) => !existsSync(path.join(repoRoot, p)))).toEqual([]);
  });

  it("has a row for every folder of the repository's shape", () => {
    const files = execFileSync("git", ["ls-files"], { cwd: repoRoot, encoding: "utf8" }).split("\n").filter(Boolean);
    expect(shapeFolders(files).filter((folder) => !listed.includes(folder))).toEqual([]);
  });
});
