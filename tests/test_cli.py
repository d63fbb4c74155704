"The evaluation command line: one call on two folders prints the metrics and writes them as JSON."
import json, os, subprocess
import numpy as np
from PIL import Image

def _folder(d, seed, n=8):
    d.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.uniform(0.3, 0.9, 3)
        im = (np.clip(base + 0.1*rng.standard_normal((64, 64, 3)), 0, 1)*255).astype(np.uint8)
        Image.fromarray(im).save(d/f'{i:02d}.png')
    return d

def test_evaluate_cli(tmp_path):
    real, fake = _folder(tmp_path/'real', 0), _folder(tmp_path/'fake', 1)
    out = tmp_path/'m.json'
    r = subprocess.run(['diffinfinite_evaluate', str(real), str(fake), '--kid_subset_size', '4', '--out', str(out)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads(out.read_text())
    assert {'frechet_inception_distance', 'precision', 'recall', 'authenticity'} <= set(m)
    assert m['frechet_inception_distance'] > 0 and 0 <= m['precision'] <= 1

def test_evaluate_cli_names_a_missing_folder(tmp_path):
    real = _folder(tmp_path/'real', 0, 2)
    r = subprocess.run(['diffinfinite_evaluate', str(real), str(tmp_path/'missing')], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and 'missing' in r.stderr

import pytest
from pathlib import Path

MODEL = Path(__file__).parent.parent/'nbs'/'models'/'lung-taef2-tiny'

@pytest.mark.shared
def test_generate_cli_tif_and_png(tmp_path):
    import tifffile
    lay = np.zeros((64, 96), np.uint8); lay[:, 48:] = 3; lay[40:, :30] = 1          # unknown, stroma, carcinoma
    Image.fromarray(lay).save(tmp_path/'layout.png')
    for name in ('gen.tif', 'gen.png'):
        r = subprocess.run(['diffinfinite_generate', str(tmp_path/'layout.png'), str(MODEL), '--out', str(tmp_path/name),
                            '--steps', '2', '--device', 'cpu'], capture_output=True, text=True, timeout=600,
                           env={**os.environ, 'OMP_NUM_THREADS': '1'})
        assert r.returncode == 0, r.stderr[-3000:]
    tif, png = tifffile.imread(tmp_path/'gen.tif'), np.asarray(Image.open(tmp_path/'gen.png'))
    assert tif.shape == png.shape == (64, 96, 3) and tif.dtype == np.uint8
    assert np.abs(tif.astype(int) - png.astype(int)).max() <= 1            # same seed: same image, either way
    assert (tmp_path/'gen_layout.png').exists()
    assert not list(tmp_path.glob('.*.tmp'))                                # atomic writes leave no temporaries

def test_generate_cli_names_a_bad_layout(tmp_path):
    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(tmp_path/'bad.png')
    r = subprocess.run(['diffinfinite_generate', str(tmp_path/'bad.png'), str(MODEL)], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and 'not in the class table' in r.stderr

def test_generate_cli_names_a_bad_suffix(tmp_path):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path/'lay.png')
    r = subprocess.run(['diffinfinite_generate', str(tmp_path/'lay.png'), str(MODEL), '--out', str(tmp_path/'x.xyz')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "suffix '.xyz'" in r.stderr
