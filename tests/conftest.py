import os, pytest
os.environ.setdefault('OMP_NUM_THREADS', '1')
from diffinfinite_nb.core import find_shared, SHARED_ENV

def pytest_configure(config):
    config.addinivalue_line('markers', 'shared: needs the shared data folder (../shared or $DIFFINFINITE_SHARED)')
    config.addinivalue_line('markers', 'cuda: needs a CUDA GPU (skipped without one; benchmarks/gpu_check.py runs them)')

def pytest_collection_modifyitems(config, items):
    if find_shared() is not None: return
    skip = pytest.mark.skip(reason=f"shared data folder not found: set ${SHARED_ENV} or put `shared/` beside the repository")
    for it in items:
        if 'shared' in it.keywords: it.add_marker(skip)
