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
    assert set(m) == {'FID', 'KID', 'KID_std', 'precision', 'recall', 'authenticity'}, sorted(m)
    assert m['FID'] > 0, m
    assert 0 <= m['precision'] <= 1, m

def test_evaluate_cli_names_a_missing_folder(tmp_path):
    real = _folder(tmp_path/'real', 0, 2)
    r = subprocess.run(['diffinfinite_evaluate', str(real), str(tmp_path/'missing')], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and 'missing' in r.stderr, r.stderr[-2000:]

import pytest
from pathlib import Path

from diffinfinite_nb.pipeline import BUNDLED_PIPELINE
MODEL = BUNDLED_PIPELINE                      # a pipeline folder: generate uses its image model

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
    assert tif.shape == png.shape == (64, 96, 3) and tif.dtype == np.uint8, (tif.shape, png.shape, tif.dtype)
    diff = np.abs(tif.astype(int) - png.astype(int)).max()
    assert diff <= 1, f"TIF and PNG differ by {diff}"                      # same seed: same image, either way
    assert (tmp_path/'gen_layout.png').exists()
    assert not list(tmp_path.glob('.*.tmp'))                                # atomic writes leave no temporaries

def test_generate_cli_names_a_bad_layout(tmp_path):
    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(tmp_path/'bad.png')
    r = subprocess.run(['diffinfinite_generate', str(tmp_path/'bad.png'), str(MODEL)], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and 'not in the class table' in r.stderr, r.stderr[-2000:]

def test_generate_cli_names_a_bad_suffix(tmp_path):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path/'lay.png')
    r = subprocess.run(['diffinfinite_generate', str(tmp_path/'lay.png'), str(MODEL), '--out', str(tmp_path/'x.xyz')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "suffix '.xyz'" in r.stderr, r.stderr[-2000:]

def _cli(*args):
    return subprocess.run([*args], capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})

def test_generate_cli_refuses_a_bare_network_and_zero_steps(tmp_path):
    "A folder without schedule, classes or latent statistics is an error (it used to fall back to mean 0 / std 1)."
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config
    DiffInfiniteUNet(**unet_config('tiny')).save_pretrained(tmp_path/'bare')
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path/'lay.png')
    r = _cli('diffinfinite_generate', str(tmp_path/'lay.png'), str(tmp_path/'bare'), '--out', str(tmp_path/'x.png'))
    assert r.returncode != 0 and 'without its noise schedule' in r.stderr, r.stderr[-2000:]
    r = _cli('diffinfinite_generate', str(tmp_path/'lay.png'), str(MODEL), '--out', str(tmp_path/'x.png'), '--steps', '0')
    assert r.returncode != 0 and '--steps must be at least 1' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'x.png').exists()

@pytest.mark.shared
def test_train_then_generate_keeps_the_latent_scale(tmp_path):
    "Train from the CLI on a latent cache, generate from the CLI: the image equals the in-memory pipeline with the cache's statistics."
    import torch, warnings
    from diffinfinite_nb.core import make_generator
    from diffinfinite_nb.data import PatchDataset, read_wsss4luad
    from diffinfinite_nb.autoencoder import TAEF2, measure_latent_stats, build_latent_cache, LatentDataset, load_autoencoder
    from diffinfinite_nb.pipeline import load_model, generate_image
    warnings.simplefilter('ignore'); torch.set_num_threads(1)
    tae = TAEF2.from_pretrained()
    crops = PatchDataset(read_wsss4luad(), 64, seed=0, validate=False)
    tae.set_stats(*measure_latent_stats(tae, crops, n=16, progress=False))
    cache = build_latent_cache(tae, crops, tmp_path/'lung.safetensors', n=16, progress=False)
    r = _cli('diffinfinite_train', '--data', str(cache), '--out', str(tmp_path/'run'), '--steps', '3', '--batch_size', '4',
             '--base_channels', '8', '--ckpt_every', '0')
    assert r.returncode == 0, r.stderr[-3000:]
    lay = np.zeros((64, 64), np.uint8); lay[:, 32:] = 3; lay[40:, :24] = 1
    Image.fromarray(lay).save(tmp_path/'layout.png')
    r = _cli('diffinfinite_generate', str(tmp_path/'layout.png'), str(tmp_path/'run'/'model'), '--out', str(tmp_path/'gen.png'),
             '--steps', '2', '--device', 'cpu')
    assert r.returncode == 0, r.stderr[-3000:]
    cli_img = np.asarray(Image.open(tmp_path/'gen.png')).astype(np.float32)/255
    mf = load_model(tmp_path/'run'/'model')
    mf._ae = load_autoencoder(LatentDataset(cache).autoencoder_spec)            # the statistics the latents were made with
    mem = generate_image(mf, lay, num_inference_steps=2, guidance_scale=2., generator=make_generator(0), progress=False)[0]
    err = np.abs(cli_img - mem).max()
    assert err <= 1/255 + 1e-6, f"CLI image differs from the in-memory one by up to {err:.4f}"

def _synthetic_slide(folder, mpp=0.5):
    "A 768x640 two-level pyramid: two textured pink regions on glass, and a QuPath GeoJSON annotating one of them."
    import tifffile
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:640, :768]
    tissue = ((yy - 200)**2 + (xx - 220)**2 < 160**2) | ((yy - 420)**2/1.5 + (xx - 560)**2 < 170**2)
    img = np.full((640, 768, 3), 242, np.uint8)
    img[tissue] = (np.array([190, 110, 165]) + rng.integers(-30, 31, (int(tissue.sum()), 3))).clip(0, 255)
    res = lambda m: dict(resolution=(1e4/m, 1e4/m), resolutionunit='CENTIMETER') if mpp else {}
    folder.mkdir()
    with tifffile.TiffWriter(folder/'case.tif') as t:
        t.write(img, tile=(256, 256), photometric='rgb', **res(mpp or 1))
        t.write(img[::2, ::2], tile=(256, 256), photometric='rgb', subfiletype=1, **res(2*(mpp or 1)))
    sq = lambda x0, y0, x1, y1: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]
    feats = [dict(type='Feature', geometry=dict(type='Polygon', coordinates=sq(*box)),
                  properties=dict(objectType='annotation', classification=dict(name=name, color=[255, 0, 0])))
             for name, box in (('Tumor', (100, 80, 250, 330)), ('Stroma', (250, 80, 340, 330)))]
    (folder/'case.geojson').write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    return folder

def _run(*args):
    return subprocess.run(['diffinfinite', *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})

@pytest.mark.shared
def test_slides_to_a_trained_pipeline_from_the_shell(tmp_path):
    "A synthetic slide + QuPath GeoJSON -> cache -> image and mask models -> a sample, through `diffinfinite` only."
    import shutil, tiffslide
    from diffinfinite_nb.autoencoder import LatentDataset
    slides = _synthetic_slide(tmp_path/'slides')
    opts = ['--mpp', '1.0', '--size', '64', '--class-map', 'Tumor=carcinoma,Stroma=tumour stroma']
    r = _run('train', '--data', slides, '--out', tmp_path/'image', '--steps', 2, '--batch-size', 4, '--base-channels', 8,
             '--crops', 1, '--ckpt-every', 0, *opts)
    assert r.returncode == 0, r.stderr[-3000:]
    cache = LatentDataset(tmp_path/'image'/'latents.safetensors')
    assert 0 < int(cache.labelled.sum()) < len(cache), (int(cache.labelled.sum()), len(cache))
    assert set(cache.mask[cache.labelled].unique().tolist()) == {0, 1, 3}
    r = _run('train', '--kind', 'mask', '--data', slides, '--out', tmp_path/'mask', '--steps', 2, '--batch-size', 4, '--ckpt-every', 0, *opts[:2], *opts[4:])
    assert r.returncode == 0, r.stderr[-3000:]
    for part in ('image', 'mask'): shutil.copytree(tmp_path/part/'model', tmp_path/'pipe'/part)
    r = _run('sample', '--model', tmp_path/'pipe', '--size', 64, '--out', tmp_path/'s.tif', '--steps', 2, '--mask-steps', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert tiffslide.TiffSlide(tmp_path/'s.tif').dimensions == (64, 64)

def test_slide_errors_are_one_line(tmp_path):
    slides = _synthetic_slide(tmp_path/'slides', mpp=None)
    r = _run('cache', slides, '--out', tmp_path/'c.safetensors')
    assert r.returncode == 1 and 'has no resolution metadata' in r.stderr and '--slide-mpp' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and r.stderr.strip().splitlines()[-1].startswith('diffinfinite cache: error: slide'), r.stderr
    r = _run('cache', slides, '--out', tmp_path/'c.safetensors', '--slide-mpp', '0.5')
    assert r.returncode == 1 and "annotation class 'Tumor' is not in the class table" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'c.safetensors').exists()
