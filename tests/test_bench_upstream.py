"""bench/diffwave.py times lmnt's own code beside ours: their package is also named diffwave, and loading
it must leave ours in place."""
import sys

import diffwave.model
from bench.diffwave import upstream_predict


def test_lmnts_package_loads_beside_ours_and_ours_stays(tmp_path):
    theirs = tmp_path / "src" / "diffwave"
    theirs.mkdir(parents=True)
    (theirs / "__init__.py").write_text("")
    (theirs / "model.py").write_text("class DiffWave:\n    upstream = True\n")
    (theirs / "inference.py").write_text("import torchaudio\nfrom diffwave.model import DiffWave\n\n\n"
                                         "def predict():\n    return DiffWave\n")
    predict = upstream_predict(str(tmp_path))
    assert predict().upstream is True
    assert sys.modules["diffwave.model"] is diffwave.model
    assert hasattr(sys.modules["diffwave.model"].DiffWave, "choose_cpu_kernels")
    assert str(tmp_path) not in sys.path[0]
    assert "torchaudio" not in sys.modules or sys.modules["torchaudio"].__spec__ is not None
