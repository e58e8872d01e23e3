// The file a sandbox host starts for every run (the run action's dist/index.js, the CLI's dist/crucible.js;
// actions/scripts/build.mjs): it turns Node's compile cache on (Node ≥ 22.1) before loading the bundle beside
// it, so a run does not compile the 2.4 MB bundle again (≈ 60 ms of each start). The cache holds code that is
// executed, so this file enables it only in the runner's private cache folder (runner-cache.ts); anywhere
// else the bundle is compiled afresh. (An environment that sets NODE_COMPILE_CACHE itself chooses Node's
// cache before this file runs, as it could choose anything else with NODE_OPTIONS.)
import module from "node:module";
import { privateDir, runnerCacheDir } from "./runner-cache.js";

const dir = await privateDir(runnerCacheDir("node-compile-cache"));
if (dir) module.enableCompileCache?.(dir);
// A computed specifier, so the bundler leaves the import to run time.
await import(new URL("./bundle.js", import.meta.url).href);
