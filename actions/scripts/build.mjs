// Bundles the CLI and every action into single ESM files that run on Node 20 and 24 with no node_modules.
// Usage: node actions/scripts/build.mjs [--cli-only] [--out-root DIR]  (--out-root lets a test rebuild elsewhere)
// A full build first regenerates the contracts (types and validators) from schemas/ (contracts.mjs).
import { build } from "esbuild";
import { copyFile, rename } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeContracts } from "./contracts.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// node-unix-socket (the trace socket of behaviour monitoring, SOCK_SEQPACKET) is a native addon: a
// bundle that monitors loads its prebuilt binary from a copy beside it (the binary is MIT-licensed,
// see node_modules/node-unix-socket/LICENSE). Other bundles never load it (monitoring/collector.ts).
const nativeAddon = { package: "node-unix-socket-linux-x64-gnu", file: "node-unix-socket.linux-x64-gnu.node" };
const nativeAddonPlugin = {
  name: "native-addon-beside-bundle",
  setup(build) {
    build.onResolve({ filter: new RegExp(`^${nativeAddon.package}$`) }, () => ({ path: `./${nativeAddon.file}`, external: true }));
  },
};

// Packages loaded at start-up for features Crucible never uses: dockerode's Docker over ssh:// (ssh2) and
// BuildKit sessions (gRPC, protobufjs; only for `buildImage` with version "2"), and @actions/core's HTTP
// client (only for OIDC tokens; Crucible's GitHub client is Octokit on Node's own fetch), which brings
// undici and whose ESM import of node:http makes Node load its own fetch at start-up. They were 2.2 MB of a
// 4.8 MB bundle that every run reads, decodes, compiles and initialises, so each is replaced by a stand-in
// that fails when used.
// Each entry: why it is left out, and the names ESM importers take from it (esbuild copies only the names
// a module lists, so an unlisted one would be undefined instead of failing with the reason).
const leftOut = {
  ssh2: { why: "Docker over ssh://", names: [] },
  "@grpc/grpc-js": { why: "BuildKit sessions", names: [] },
  "@grpc/proto-loader": { why: "BuildKit sessions", names: [] },
  protobufjs: { why: "BuildKit progress", names: [] },
  "@actions/http-client": { why: "OIDC tokens of @actions/core", names: ["HttpClient"] },
  "@actions/http-client/lib/auth": { why: "OIDC tokens of @actions/core", names: ["BearerCredentialHandler"] },
};
export const leftOutPlugin = {
  name: "left-out-packages",
  setup(build) {
    const names = Object.keys(leftOut).map((name) => name.replace(/[/.]/g, "\\$&"));
    build.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => ({ path: args.path, namespace: "left-out" }));
    build.onLoad({ filter: /.*/, namespace: "left-out" }, (args) => {
      const { why, names: exported } = leftOut[args.path];
      const message = `${args.path} (${why}) is left out of Crucible's bundles (actions/scripts/build.mjs)`;
      const fail = `function () { throw new Error(${JSON.stringify(message)}); }`;
      const listed = JSON.stringify(exported);
      const traps = [
        `get: () => ${fail}`,
        `ownKeys: () => ${listed}`,
        `getOwnPropertyDescriptor: (_, name) =>` +
          ` ${listed}.includes(name) ? { configurable: true, enumerable: true, value: ${fail} } : undefined`,
      ];
      return { contents: `module.exports = new Proxy({}, { ${traps.join(", ")} });`, loader: "js" };
    });
  },
};

// A sandbox host starts the run action and the CLI for every run: with `compileCache`, `out` is a small start
// file (actions/lib/src/start-with-compile-cache.ts) that turns Node's compile cache on and loads the bundle,
// written beside it as bundle.js.
export const bundles = [
  { entry: "actions/cli/src/main.ts", out: "actions/cli/dist/crucible.js", committed: false, native: true, compileCache: true },
  { entry: "actions/validate/src/index.ts", out: "actions/validate/dist/index.js", committed: true },
  { entry: "actions/run/src/index.ts", out: "actions/run/dist/index.js", committed: true, native: true, compileCache: true },
  { entry: "actions/record/src/index.ts", out: "actions/record/dist/index.js", committed: true },
  { entry: "actions/plan/src/index.ts", out: "actions/plan/dist/index.js", committed: true },
  { entry: "actions/request/src/index.ts", out: "actions/request/dist/index.js", committed: true },
  { entry: "actions/command/src/index.ts", out: "actions/command/dist/index.js", committed: true },
  { entry: "actions/build-image/src/index.ts", out: "actions/build-image/dist/index.js", committed: true },
];

// CommonJS dependencies call require() for Node built-ins and use __dirname.
const commonJsShim = [
  "import { createRequire as __cjsCreateRequire } from 'node:module';",
  "import { fileURLToPath as __cjsFileURLToPath } from 'node:url';",
  "const require = __cjsCreateRequire(import.meta.url);",
  "const __filename = __cjsFileURLToPath(import.meta.url);",
  "const __dirname = __cjsFileURLToPath(new URL('.', import.meta.url));",
].join(" ");

const compileCacheStart = "actions/lib/src/start-with-compile-cache.ts";

/** The files a bundle is built into (relative to the output root). */
export function bundleFiles(bundle) {
  return bundle.compileCache ? [bundle.out, path.join(path.dirname(bundle.out), "bundle.js")] : [bundle.out];
}

async function main(args) {
  const outRootIndex = args.indexOf("--out-root");
  const outRoot = outRootIndex >= 0 ? path.resolve(args[outRootIndex + 1]) : root;
  const cliOnly = args.includes("--cli-only");
  // Neither an install (--cli-only) nor a test's rebuild elsewhere (--out-root) writes the source tree.
  if (!cliOnly && outRootIndex < 0) await writeContracts();
  const selected = cliOnly ? bundles.filter((b) => !b.committed) : bundles;
  for (const bundle of selected) {
    const [start, code = start] = bundleFiles(bundle);
    if (bundle.compileCache) await buildOne(compileCacheStart, path.join(outRoot, start));
    await buildOne(bundle.entry, path.join(outRoot, code));
    if (bundle.native) {
      // Copied beside and renamed over: a process running from this folder has the addon mapped, and
      // writing into the mapped file in place kills it (SIGBUS).
      const target = path.join(path.dirname(path.join(outRoot, bundle.out)), nativeAddon.file);
      await copyFile(path.join(root, "node_modules", nativeAddon.package, nativeAddon.file), `${target}.${process.pid}.tmp`);
      await rename(`${target}.${process.pid}.tmp`, target);
    }
  }
}

async function buildOne(entry, outfile) {
  await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    banner: { js: commonJsShim },
    plugins: [nativeAddonPlugin, leftOutPlugin],
    legalComments: "none",
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
