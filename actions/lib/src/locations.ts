import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The checkout this code was bundled in. Trusted configuration (image recipes, the runner policy) is
 * read from here, never from the checkout that holds the experiments, which may come from a pull request.
 * Bundles live at actions/<name>/dist/<file>.js, three levels below the root.
 */
export function installRoot(moduleUrl: string): string {
  return path.resolve(path.dirname(fileURLToPath(moduleUrl)), "..", "..", "..");
}

export function imagesDirOf(root: string): string {
  return path.join(root, "runner-setup", "images");
}

export function defaultPolicyFile(root: string): string {
  return process.env.CRUCIBLE_POLICY || path.join(root, "runner-setup", "policy.json");
}

/** The behaviour-monitoring rules (runner-setup/monitoring-rules.json); the runner policy may override them. */
export function monitoringRulesFile(root: string): string {
  return path.join(root, "runner-setup", "monitoring-rules.json");
}

/** The repository an experiment belongs to: the folder that holds its experiments/ folder. */
export function repositoryOf(experimentFile: string): string {
  const parts = path.resolve(experimentFile).split(path.sep);
  const index = parts.lastIndexOf("experiments");
  return index > 0 ? parts.slice(0, index).join(path.sep) || path.sep : path.dirname(path.resolve(experimentFile));
}
