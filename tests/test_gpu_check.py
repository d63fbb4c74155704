"The prepared GPU check is one command; without CUDA it says so in one line, measures nothing and exits 0."
import subprocess, sys
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.skipif(torch.cuda.is_available(), reason='with CUDA the check runs for real (minutes)')
def test_gpu_check_skips_cleanly_without_cuda():
    before = (ROOT/'benchmarks'/'results'/'gpu_check.json').read_bytes() if (ROOT/'benchmarks'/'results'/'gpu_check.json').exists() else None
    r = subprocess.run([sys.executable, str(ROOT/'benchmarks'/'gpu_check.py')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == ["gpu_check: no CUDA device here: nothing measured (run it on a GPU machine)"], r.stdout
    assert 'Traceback' not in r.stderr
    after = (ROOT/'benchmarks'/'results'/'gpu_check.json').read_bytes() if (ROOT/'benchmarks'/'results'/'gpu_check.json').exists() else None
    assert after == before                                         # nothing written
