import { EXPERIMENT_FILE_NAMES } from "./experiment.js";

export interface TouchedExperiments {
  /** Experiment folders whose runnable content changed, e.g. experiments/hello-sandbox. */
  folders: string[];
  /** Changed paths inside an experiment's results/ (what the record step commits). */
  results: string[];
  /** Changed paths that belong to no experiment (actions, workflows, schemas, docs…). */
  ignored: string[];
  /** A schema changed: every experiment may read differently now. */
  schemas: boolean;
}

/**
 * What a change touches: for every changed path under experiments/, the nearest folder that holds an
 * experiment file in `exists` (the files at the changed commit). Changes inside that experiment's
 * results/ are not a change to what it runs; deleted experiments are left out. The one walk shared by
 * validation (a checkout) and planning (git objects).
 */
export function experimentsTouched(changed: string[], exists: (file: string) => boolean): TouchedExperiments {
  const folders = new Set<string>();
  const results: string[] = [];
  const ignored: string[] = [];
  let schemas = false;
  for (const file of changed) {
    const parts = file.split("/");
    if (parts[0] === "schemas") schemas = true;
    let owner: { dir: string; depth: number } | undefined;
    if (parts[0] === "experiments") {
      for (let depth = parts.length - 1; depth >= 2 && !owner; depth--) {
        const dir = parts.slice(0, depth).join("/");
        if (EXPERIMENT_FILE_NAMES.some((name) => exists(`${dir}/${name}`))) owner = { dir, depth };
      }
    }
    if (!owner) ignored.push(file);
    else if (parts[owner.depth] === "results" && parts.length > owner.depth + 1) results.push(file);
    else folders.add(owner.dir);
  }
  return { folders: [...folders].sort(), results, ignored, schemas };
}
