// What the bundles leave out (actions/scripts/build.mjs): a use of a left-out package fails with the reason,
// whether its importer is an ES module taking names from it or a CommonJS module requiring it.
import { build } from "esbuild";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { leftOutPlugin } from "../actions/scripts/build.mjs";
import { repoRoot } from "./support/repo.js";

async function bundleAndRun(source: string): Promise<unknown> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-left-out-"));
  const entry = path.join(dir, "entry.mjs");
  await writeFile(entry, source);
  const outfile = path.join(dir, "out.mjs");
  // Resolved from the repository, as the actions' bundles are.
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    absWorkingDir: repoRoot,
    nodePaths: [path.join(repoRoot, "node_modules")],
    plugins: [leftOutPlugin],
    logLevel: "silent",
  });
  try {
    await import(pathToFileURL(outfile).href);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("packages left out of the bundles", () => {
  it("fail with the reason when an ES module uses a name it imported from one", async () => {
    const error = await bundleAndRun('import { HttpClient } from "@actions/http-client";\nnew HttpClient("x");\n');
    expect(String(error)).toContain("@actions/http-client (OIDC tokens of @actions/core) is left out of Crucible's bundles");
  });

  it("fail with the reason when a CommonJS module uses one it required", async () => {
    const error = await bundleAndRun('const ssh2 = require("ssh2");\nnew ssh2.Client();\n');
    expect(String(error)).toContain("ssh2 (Docker over ssh://) is left out of Crucible's bundles");
  });
});
