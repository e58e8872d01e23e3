// Incremental builds (CRUCIBLE_SITE_INCREMENTAL=1 with a previous build in the output folder): the
// results loader notes which runs are new or changed since the store was filled, and the per-run
// pages and files are generated only for those. Everything else (overview, indexes, experiment and
// research pages) is built every time. The loader and the pages run in one build process, but from
// separately bundled modules, so the note lives under a global symbol.
const KEY = Symbol.for("crucible.site.changedRuns");

type Note = { all: true } | { all: false; ids: Set<string> };

export function noteChangedRuns(note: Note): void {
  (globalThis as Record<symbol, unknown>)[KEY] = note;
}

/** Whether a run's own pages must be generated in this build (always, unless the build is incremental). */
export function runPagesNeeded(id: string): boolean {
  const note = (globalThis as Record<symbol, unknown>)[KEY] as Note | undefined;
  return !note || note.all || note.ids.has(id);
}
