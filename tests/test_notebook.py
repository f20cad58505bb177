"""The notebook runs top to bottom at its smoke size on a CPU, from the committed file."""

import re
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

from bn_smooth import cifar10
from tests.conftest import xla_flags

NOTEBOOK = (
    Path(__file__).resolve().parents[1] / "experiments" / "notebooks" / ("landscape_sweeps.ipynb")
)


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_notebook_runs_top_to_bottom(fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setenv("BN_SMOOTH_NOTEBOOK_SIZE", "smoke")
    # The kernel imports this checkout's bn_smooth, whatever else is installed.
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[2]))
    monkeypatch.setenv(cifar10.ENV_VAR, str(fake_cifar))
    monkeypatch.setenv("XLA_FLAGS", xla_flags())  # its outputs are checked, not its digits
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "smoke size" in text and "the batch of step 5: inputs (32, 32, 32, 3)" in text
    # Both networks at each of the three learning rates trained to a finite loss.
    losses = re.findall(r"LR=(\S+): final training loss (\S+)", text)
    assert len(losses) == 6 and all(np.isfinite(float(loss)) for _, loss in losses)
    # The two figures, and a finite ratio for each measure at each learning rate.
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
    table = text[text.index("lr     gradient change") :].splitlines()[1:]
    assert [line.split()[0] for line in table] == ["0.05", "0.1", "0.2"]
    ratios = np.array([[float(v) for v in line.split()[1:]] for line in table])
    assert ratios.shape == (3, 3) and np.all(np.isfinite(ratios)) and np.all(ratios > 0)
