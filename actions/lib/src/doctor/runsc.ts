import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/**
 * What an installed runsc can do, read from the binary itself. runsc parses its flags with Go's flag
 * package, which aborts on any flag it does not know, so the runtime arguments Docker passes must be
 * chosen for the build that is installed (see runner-setup/README.md, "runsc builds and their arguments").
 */
export interface RunscCapabilities {
  path: string;
  /** As printed: "0.0~20221219.0" (Debian), "release-20240807.0" (gVisor's own builds). */
  version: string;
  /** The build date as YYYYMMDD when the version carries one. */
  date?: string;
  /** Top-level flag names without dashes, from `runsc flags`. */
  flags: Set<string>;
  /** From `runsc help platforms`. */
  platforms: string[];
}

/** `runsc --version` output → the version string and its build date. */
export function parseRunscVersion(text: string): { version: string; date?: string } {
  const version = /runsc version\s+(\S+)/.exec(text)?.[1];
  if (!version) throw new Error(`unrecognised \`runsc --version\` output: ${JSON.stringify(text.slice(0, 200))}`);
  const date = /(20\d{6})/.exec(version)?.[1];
  return date ? { version, date } : { version };
}

/** `runsc flags` output (Go's flag.PrintDefaults: "  -name type\n    \tusage") → flag names. */
export function parseRunscFlags(text: string): Set<string> {
  const flags = new Set<string>();
  for (const match of text.matchAll(/^ {2}-{1,2}([A-Za-z0-9][A-Za-z0-9_.-]*)/gm)) flags.add(match[1]!);
  return flags;
}

/** `runsc help platforms` output: one platform name per line. */
export function parseRunscPlatforms(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9]+$/.test(l));
}

export async function probeRunsc(path: string): Promise<RunscCapabilities> {
  const run = async (args: string[]) => {
    // `runsc flags` writes to stderr on some builds; both streams are read.
    const { stdout, stderr } = await execFileAsync(path, args, { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 });
    return `${stdout}\n${stderr}`;
  };
  // Three independent reads of the same binary, side by side: every run's host-fit check waits for them.
  const [versionText, flagsText, platformsText] = await Promise.all([
    run(["--version"]),
    run(["flags"]),
    run(["help", "platforms"]).catch(() => ""),
  ]);
  const { version, date } = parseRunscVersion(versionText);
  const flags = parseRunscFlags(flagsText);
  const platforms = parseRunscPlatforms(platformsText);
  return { path, version, ...(date ? { date } : {}), flags, platforms };
}

/** A runtime argument we pass and why; `required` ones must be supported or the host is refused. */
interface ArgumentRule {
  flag: string;
  value: string;
  required: boolean;
  why: string;
  /** Only for the GPU runtime. */
  gpuOnly?: boolean;
  /** Only for builds from this date on (YYYYMMDD), when the flag exists in older ones but is not relied on there. */
  since?: string;
  /** Only for builds before this date, after which the flag is not needed. */
  until?: string;
}

/**
 * Every runtime argument Crucible may pass to runsc, in order. README/runner-setup docs list the same
 * combinations. Anything not here is never passed.
 */
export const RUNSC_ARGUMENTS: readonly ArgumentRule[] = [
  {
    flag: "network",
    value: "none",
    required: true,
    why:
      "no network stack in the sandbox at all (only loopback); runsc before release-20240807.0 " +
      "also fails every start on kernels >= 6.11 without it",
  },
  {
    flag: "platform",
    value: "systrap",
    required: false,
    why: "systrap replaces ptrace (unsupported in current builds, ~20 µs per syscall); only when the build offers it",
  },
  {
    flag: "oci-seccomp",
    value: "true",
    required: false,
    // The 2022 Debian build has the flag, but it is untested with our images there; it is used from the
    // first systrap-era release on.
    since: "20230621",
    why: "Docker's seccomp profile is enforced inside the Sentry as a second filter over the program's syscalls",
  },
  {
    flag: "nvproxy",
    value: "true",
    required: true,
    gpuOnly: true,
    why: "GPU access through gVisor's nvproxy (ioctl allow-list per driver version)",
  },
  {
    flag: "nvproxy-docker",
    value: "true",
    required: false,
    gpuOnly: true,
    until: "20240305",
    why: "`docker run --gpus` under nvproxy; from release-20240305.0 runsc finds nvidia-container-runtime-hook itself",
  },
];

export interface ChosenArguments {
  args: string[];
  /** One line per rule: used, left out and why. */
  notes: string[];
  /** Required arguments the build does not support: such a host cannot run sandboxes safely. */
  missing: string[];
}

/** The runtime arguments for this runsc build: every required one it supports, and the extras it offers. */
export function chooseRuntimeArgs(
  runsc: Pick<RunscCapabilities, "flags" | "platforms" | "date" | "version">,
  options: { gpu: boolean },
): ChosenArguments {
  const chosen: ChosenArguments = { args: [], notes: [], missing: [] };
  for (const rule of RUNSC_ARGUMENTS) {
    if (rule.gpuOnly && !options.gpu) continue;
    const arg = rule.value === "true" ? `--${rule.flag}` : `--${rule.flag}=${rule.value}`;
    let absent: string | undefined;
    if (!runsc.flags.has(rule.flag)) absent = `runsc ${runsc.version} has no --${rule.flag}`;
    else if (rule.flag === "platform" && !runsc.platforms.includes(rule.value))
      absent = `runsc ${runsc.version} offers no ${rule.value} platform (has ${runsc.platforms.join(", ") || "none listed"})`;
    else if (rule.since && (!runsc.date || runsc.date < rule.since))
      absent = `not relied on before ${rule.since} (this build: ${runsc.version})`;
    else if (rule.until && runsc.date && runsc.date >= rule.until)
      absent = `not needed from ${rule.until} on (this build: ${runsc.version})`;
    if (absent) {
      if (rule.required) chosen.missing.push(`${arg}: ${absent}`);
      chosen.notes.push(`${arg} left out: ${absent}`);
    } else {
      chosen.args.push(arg);
      chosen.notes.push(`${arg}: ${rule.why}`);
    }
  }
  return chosen;
}

/** Flag names in runtime arguments ("--network=none" → "network"), for checking them against a build. */
export function flagNamesOf(args: string[]): string[] {
  return args.map((a) => /^-{1,2}([^=]+)/.exec(a)?.[1] ?? a);
}

/**
 * Checks configured runtime arguments against a build: unknown flags make every start fail, a missing
 * required one (e.g. --network=none) leaves the sandbox with a network stack.
 */
export function checkRuntimeArgs(
  configured: string[],
  runsc: Pick<RunscCapabilities, "flags" | "platforms" | "date" | "version">,
  options: { gpu: boolean },
): { unknown: string[]; missingRequired: string[]; missingRecommended: string[]; chosen: ChosenArguments } {
  const chosen = chooseRuntimeArgs(runsc, options);
  const unknown = configured.filter((a) => !runsc.flags.has(flagNamesOf([a])[0]!));
  const required = RUNSC_ARGUMENTS.filter((r) => r.required && (!r.gpuOnly || options.gpu)).map((r) =>
    r.value === "true" ? `--${r.flag}` : `--${r.flag}=${r.value}`,
  );
  const normalise = (a: string) => a.replace(/^-(?!-)/, "--").replace(/=true$/, "");
  const have = new Set(configured.map(normalise));
  const missingRequired = required.filter((a) => !have.has(a));
  const missingRecommended = chosen.args.filter((a) => !have.has(a) && !required.includes(a));
  return { unknown, missingRequired, missingRecommended, chosen };
}

/** Driver versions nvproxy of this build accepts (`runsc nvproxy list-supported-drivers`, release-2024 on). */
export function parseSupportedDrivers(text: string): string[] {
  return [...text.matchAll(/\b(\d{3}\.\d{2,3}(?:\.\d{2})?)\b/g)].map((m) => m[1]!);
}

export async function supportedDrivers(runscPath: string): Promise<string[]> {
  const { stdout } = await execFileAsync(runscPath, ["nvproxy", "list-supported-drivers"], { timeout: 30_000 });
  return parseSupportedDrivers(stdout);
}
