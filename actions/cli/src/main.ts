import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  ArtifactStore,
  CrucibleError,
  chooseRuntimeArgs,
  formatTable,
  probeRunsc,
  defaultArtifactStore,
  formatBytes,
  parseDuration,
  pruneArtifactStore,
  assertValid,
  behaviourLine,
  errorMessage,
  escapeControls,
  validateContainmentMatrixDocument,
  ExperimentInvalidError,
  defaultPolicyFile,
  findExperimentFiles,
  formatIssue,
  formatLiveLine,
  imagesDirOf,
  installRoot,
  loadExperiment,
  loadPolicy,
  monitoringRulesFile,
  repositoryOf,
  resourceLines,
  runExperimentInSlot,
  type Issue,
} from "../../lib/src/index.js";
import {
  assembleRun,
  collectGarbage,
  DockerSandboxProvider,
  localDocker,
  monitoringFor,
  pruneExperimentImages,
  runContainmentSuite,
  runDoctor,
} from "../../lib/src/docker/index.js";

const USAGE = `usage: crucible <command> [options]

commands:
  validate [PATH...]            check experiment files (default: experiments/) against the schema
  run EXPERIMENT.yaml           run one experiment in the gVisor sandbox and record its result
      --results-dir DIR         where results/<run-id>/ goes (default: beside the experiment)
      --policy FILE             runner policy (default: runner-setup/policy.json or $CRUCIBLE_POLICY)
      --artifact-store DIR      where stage artifacts are kept by sha256 (default: $CRUCIBLE_ARTIFACT_STORE
                                or ~/.cache/crucible/artifacts)
      --image-digest sha256:…   run exactly this image (an experiment that brings its own): a Dockerfile is
                                not built; the image must be on this host or in --image-archive
      --image-archive FILE      a \`docker save\` archive holding that image (the build job's artifact)
  image build [NAME...]         build sandbox images whose recipe changed (default: all), ahead of the
                                first run that needs one (a run builds a missing image itself)
  containment [--compare-runc]  run the containment suite (experiments/containment/) and write its
      [--results-dir DIR]       matrix; exits 1 if any attack gets through under runsc
      [--matrix FILE]           (default experiments/containment/matrix.json)
  doctor [--json]               check this host end to end (daemon, runsc and its arguments, a real
      [--policy FILE]           sandbox: gVisor kernel, no network, writable paths, memory and process
      [--artifact-store DIR]    limits; images, disk, cgroups, GPUs); exits 1 if any check fails
  runtime-args [--gpu] [RUNSC]  the runtime arguments for the installed runsc (default: runsc on PATH),
                                as JSON; runner-setup writes them into /etc/docker/daemon.json
  gc                            remove sandboxes whose owner process on this host is gone, that
                                exited, or that outlived their deadline, and runsc processes left
                                behind by failed starts (a run does the first before it starts),
                                and experiment images (built from Dockerfiles) no container uses,
                                except each experiment's newest
      [--artifacts-older-than T]  also remove stage artifacts not stored again within T (e.g. 336h)
      [--artifact-store DIR]      from this store (default as for run)
`;

const root = installRoot(import.meta.url);

/**
 * Everything this CLI prints goes through here: experiments' programs name metrics, files and stages, and
 * reasons quote them, so each line has its control characters escaped (text.ts) before it reaches a
 * terminal. Line breaks of our own are kept.
 */
function terminalSafe(text: string): string {
  return text.split("\n").map(escapeControls).join("\n");
}
const out = (text = ""): void => console.log(terminalSafe(text));
const warn = (text: string): void => console.error(terminalSafe(text));

async function validate(paths: string[]): Promise<number> {
  const files = await findExperimentFiles(paths.length ? paths : ["experiments"]);
  if (files.length === 0) {
    warn(`no experiment files (experiment.yaml) found under ${paths.join(", ") || "experiments"}`);
    return 1;
  }
  const issues: Issue[] = [];
  for (const file of files) {
    try {
      await loadExperiment(file, { imagesDir: imagesDirOf(root) });
      out(`ok  ${file}`);
    } catch (error) {
      if (!(error instanceof ExperimentInvalidError)) throw error;
      issues.push(...error.issues);
    }
  }
  for (const issue of issues) warn(formatIssue(issue));
  const fileCount = new Set(issues.map((i) => i.file)).size;
  if (issues.length > 0) warn(`${issues.length} problem(s) in ${fileCount} of ${files.length} experiment file(s)`);
  return issues.length > 0 ? 1 : 0;
}

async function run(
  file: string,
  options: { resultsDir?: string; policy?: string; artifactStore?: string; approvedImage?: { digest: string; archive?: string } },
): Promise<number> {
  const { experiment, policy, provider, artifactStore, monitoring, signal } = await assembleRun({
    root,
    experimentFile: file,
    policyFile: options.policy,
    ...(options.artifactStore ? { artifactStore: path.resolve(options.artifactStore) } : {}),
    onSignal: (name, count) => {
      if (count > 1) process.exit(130);
      warn(`\n${name}: stopping the sandbox (press again to quit at once)`);
    },
  });
  const { result, resultFile } = await runExperimentInSlot({
    experiment,
    policy,
    provider,
    repoRoot: repositoryOf(experiment.file),
    resultsRoot: options.resultsDir ? path.resolve(options.resultsDir) : undefined,
    artifactStore,
    signal,
    ...(options.approvedImage ? { approvedImage: options.approvedImage } : {}),
    monitoring,
    events: {
      phase: (name) => out(`==> ${name}`),
      stage: (name, index, total) => out(`\n=== stage ${index + 1}/${total}: ${name}`),
      stageFinished: (stage) => out(`=== ${stage.name}: ${stage.status} (${stage.statusReason})`),
      info: (message) => out(`    ${message}`),
      line: (line) => out(formatLiveLine(line)),
      sample: resourceLines((text) => out(`    ${text}`)),
    },
  });
  const metrics = Object.entries(result.metrics)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  out(`==> ${result.status}: ${result.statusReason}`);
  for (const stage of result.stages ?? []) {
    const took = stage.durationSeconds !== undefined ? ` (${stage.durationSeconds.toFixed(0)}s)` : "";
    out(`    ${stage.status.padEnd(9)} ${stage.name}${took}: ${stage.statusReason}`);
  }
  for (const a of result.storedArtifacts ?? []) out(`    artifact ${a.stage}/${a.path}: sha256 ${a.sha256}, ${a.size} bytes`);
  if (metrics) out(`    metrics: ${metrics}`);
  out(`    behaviour: ${behaviourLine(result)}`);
  for (const d of result.dropped) out(`    not collected: ${d.path}: ${d.reason}`);
  out(`    result: ${path.relative(process.cwd(), resultFile)}`);
  return result.status === "succeeded" ? 0 : 1;
}

async function containment(options: { compareRunc: boolean; resultsDir?: string; matrix?: string; policy?: string }): Promise<number> {
  const policy = await loadPolicy(options.policy ?? defaultPolicyFile(root));
  const suiteDir = path.resolve("experiments/containment");
  const provider = new DockerSandboxProvider(policy.runtime, imagesDirOf(root));
  await provider.preflight();
  const { verdicts, matrix } = await runContainmentSuite({
    suiteDir,
    imagesDir: imagesDirOf(root),
    policy,
    docker: provider.docker,
    runtimes: options.compareRunc ? ["runsc", "runc"] : ["runsc"],
    monitoring: await monitoringFor(provider.docker, monitoringRulesFile(root), policy),
    repoRoot: repositoryOf(suiteDir),
    resultsRoot: options.resultsDir ? path.resolve(options.resultsDir) : undefined,
    log: (line) => out(line),
  });
  const matrixFile = path.resolve(options.matrix ?? path.join(suiteDir, "matrix.json"));
  assertValid(validateContainmentMatrixDocument, matrix, "the containment matrix");
  await writeFile(matrixFile, `${JSON.stringify(matrix, null, 2)}\n`);
  out("");
  for (const v of verdicts) {
    const counts = ["blocked", "contained", "succeeded"]
      .map((o) => `${v.techniques.filter((t) => t.outcome === o).length} ${o}`)
      .join(", ");
    const verdict = v.verdict === "contained" ? "contained" : "BREACHED ";
    out(`${verdict}  ${v.runtime.padEnd(6)} ${v.attack.padEnd(26)} ${v.status.padEnd(10)} ${counts}`);
    for (const reason of v.reasons) out(`           ${reason}`);
  }
  out(`matrix: ${path.relative(process.cwd(), matrixFile)}`);
  const breached = verdicts.filter((v) => v.runtime === "runsc" && v.verdict === "breached");
  return breached.length > 0 ? 1 : 0;
}

async function doctor(options: { json: boolean; policy?: string; artifactStore?: string }): Promise<number> {
  const policy = await loadPolicy(options.policy ?? defaultPolicyFile(root));
  const report = await runDoctor({
    docker: localDocker(),
    policy,
    imagesDir: imagesDirOf(root),
    artifactStore: options.artifactStore ? path.resolve(options.artifactStore) : defaultArtifactStore(),
    monitoringRules: monitoringRulesFile(root),
    // Rows as they finish: the sandbox checks take a few seconds each.
    onResult: options.json ? undefined : (r) => warn(`${r.status.padEnd(4)}  ${r.check}`),
  });
  out(options.json ? JSON.stringify(report, null, 2) : `\n${formatTable(report)}`);
  return report.ok ? 0 : 1;
}

async function buildImages(names: string[]): Promise<number> {
  const provider = new DockerSandboxProvider("runsc", imagesDirOf(root));
  const all = names.length ? names : (await readdir(imagesDirOf(root))).sort();
  for (const name of all) await provider.prepareImage(name, (line) => out(line));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "validate":
      return validate(parseArgs({ args: rest, allowPositionals: true }).positionals);
    case "run": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          "results-dir": { type: "string" },
          policy: { type: "string" },
          "artifact-store": { type: "string" },
          "image-digest": { type: "string" },
          "image-archive": { type: "string" },
        },
      });
      if (positionals.length !== 1) throw new CrucibleError(`run takes exactly one experiment file\n\n${USAGE}`);
      if (values["image-archive"] && !values["image-digest"])
        throw new CrucibleError(`--image-archive needs --image-digest: the digest the archive must hold\n\n${USAGE}`);
      return run(positionals[0]!, {
        resultsDir: values["results-dir"],
        policy: values.policy,
        artifactStore: values["artifact-store"],
        ...(values["image-digest"]
          ? {
              approvedImage: {
                digest: values["image-digest"],
                ...(values["image-archive"] ? { archive: path.resolve(values["image-archive"]) } : {}),
              },
            }
          : {}),
      });
    }
    case "image": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      if (positionals[0] !== "build") throw new CrucibleError(`unknown image command\n\n${USAGE}`);
      return buildImages(positionals.slice(1));
    }
    case "containment": {
      const { values } = parseArgs({
        args: rest,
        options: {
          "compare-runc": { type: "boolean" },
          "results-dir": { type: "string" },
          matrix: { type: "string" },
          policy: { type: "string" },
        },
      });
      return containment({
        compareRunc: !!values["compare-runc"],
        resultsDir: values["results-dir"],
        matrix: values.matrix,
        policy: values.policy,
      });
    }
    case "doctor": {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: "boolean" }, policy: { type: "string" }, "artifact-store": { type: "string" } },
      });
      return doctor({ json: !!values.json, policy: values.policy, artifactStore: values["artifact-store"] });
    }
    case "runtime-args": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { gpu: { type: "boolean" } } });
      const runsc = await probeRunsc(positionals[0] ?? "runsc").catch((error: unknown) => {
        throw new CrucibleError(
          `cannot read the flags of ${positionals[0] ?? "runsc"}: ${errorMessage(error)}. Install it with \`apt-get install runsc\`.`,
          { cause: error },
        );
      });
      const chosen = chooseRuntimeArgs(runsc, { gpu: !!values.gpu });
      out(JSON.stringify({ runsc: runsc.path, version: runsc.version, ...chosen }, null, 2));
      if (chosen.missing.length > 0) {
        warn(
          `crucible: runsc ${runsc.version} cannot provide what a ${values.gpu ? "GPU " : ""}sandbox needs: ${chosen.missing.join("; ")}`,
        );
        return 1;
      }
      return 0;
    }
    case "gc": {
      const { values } = parseArgs({
        args: rest,
        options: { "artifacts-older-than": { type: "string" }, "artifact-store": { type: "string" } },
      });
      const docker = localDocker();
      const report = await collectGarbage(docker);
      for (const c of report.containers) out(`removed sandbox ${c.name} (${c.reason})`);
      for (const p of report.processes) out(`killed ${p.command} ${p.pid} (${p.reason})`);
      out(`gc: removed ${report.containers.length} sandbox(es), killed ${report.processes.length} orphaned runsc process(es)`);
      const images = await pruneExperimentImages(docker);
      for (const image of images)
        out(`removed experiment image ${image.tags.join(", ") || image.id} (unused; a newer build of its experiment exists)`);
      out(`gc: removed ${images.length} unused experiment image(s)`);
      if (values["artifacts-older-than"]) {
        const store = new ArtifactStore(values["artifact-store"] ? path.resolve(values["artifact-store"]) : defaultArtifactStore());
        const pruned = await pruneArtifactStore(store, parseDuration(values["artifacts-older-than"]));
        out(`gc: removed ${pruned.files} stored artifact(s), ${formatBytes(pruned.bytes)}, from ${store.root}`);
      }
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
    case undefined:
      out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new CrucibleError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ExperimentInvalidError) {
      for (const issue of error.issues) warn(formatIssue(issue));
    } else if (error instanceof CrucibleError || (error instanceof Error && error.name === "TypeError" && "code" in error)) {
      warn(`crucible: ${error.message}`);
    } else {
      warn(String((error as Error)?.stack ?? error));
    }
    process.exit(2);
  },
);
