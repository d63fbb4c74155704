"Samples are a pure function of (seed, epoch, index): the same with 0 or 2 DataLoader worker processes."
import warnings, pytest, torch
from torch.utils.data import DataLoader
from diffinfinite_nb.data import *

def _batches(ds, workers):
    return list(DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers))

def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for k in x: assert torch.equal(x[k], y[k]), k

def test_synthetic_workers_invariant():
    ds = SyntheticTissue(12, size=24)
    _same(_batches(ds, 0), _batches(ds, 2))

@pytest.mark.shared
def test_semi_supervised_workers_invariant():
    warnings.simplefilter('ignore')
    lab = PatchDataset(read_wsss4luad(), 64, validate=False)
    unl = PatchDataset(read_ebhi(subtypes=['Normal']), 64, validate=False)
    mix = SemiSupervisedDataset(lab, unl, p_unc=0.5, length=16, seed=3)
    mix.set_epoch(2)
    a = _batches(mix, 0); b = _batches(mix, 2)
    _same(a, b)
    assert 0 < torch.cat([x['labelled'] for x in a]).float().mean() < 1
