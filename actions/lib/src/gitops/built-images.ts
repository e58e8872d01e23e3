// The build job's images, as the announce job shows them to the reviewer: each image-* artifact holds
// image.json (digest, Dockerfile hash, base image) beside image.tar. The comment shows the digest; the
// evaluate job runs the archive only if it holds exactly that digest.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { readBuiltImage } from "../image-archive.js";
import type { EvaluationPlan } from "./evaluation.js";

/** The plan with each built experiment's image record attached; a missing or unreadable one is left out. */
export async function withBuiltImages(plan: EvaluationPlan, folder: string): Promise<EvaluationPlan> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  const byArtifact = new Map<string, Awaited<ReturnType<typeof readBuiltImage>>["record"]>();
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith("image-")) continue;
    const built = await readBuiltImage(path.join(folder, entry.name)).catch(() => undefined);
    if (built) byArtifact.set(entry.name.slice("image-".length), built.record);
  }
  return {
    ...plan,
    experiments: plan.experiments.map((e) => {
      const record = e.build ? byArtifact.get(e.artifact) : undefined;
      if (!record) return e;
      const { digest, dockerfileHash, baseImage } = record;
      return { ...e, builtImage: { digest, ...(dockerfileHash ? { dockerfileHash } : {}), ...(baseImage ? { baseImage } : {}) } };
    }),
  };
}
