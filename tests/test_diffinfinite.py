"""The `diffinfinite` command: the main job writes whole-slide files that OpenSlide and tiffslide open; bad input is one
line on stderr, a non-zero exit and no file under a final name; Ctrl-C and kill leave nothing behind."""
import json, os, shutil, signal, subprocess, sys, time
import numpy as np, pytest
from pathlib import Path
from PIL import Image
from diffinfinite_nb.pipeline import BUNDLED_PIPELINE

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}

def run(*args, timeout=600):
    return subprocess.run(['diffinfinite', *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)

def no_files(d, keep=()):
    left = sorted(p.name for p in Path(d).iterdir() if p.name not in keep)
    assert not left, f"left behind: {left}"

def test_help_everywhere():
    for args in ([], ['sample'], ['train'], ['cache'], ['evaluate'], ['info']):
        r = run(*args, '--help')
        assert r.returncode == 0 and 'usage: diffinfinite' in r.stdout, (args, r.stdout[-500:], r.stderr[-500:])

def _layout(shape=(384, 512)):
    lay = np.zeros(shape, np.uint8); lay[:, shape[1]//2:] = 3; lay[shape[0]//2:, :shape[1]//3] = 1; lay[:64, :64] = 4
    return lay

@pytest.mark.shared
def test_sample_from_a_layout_opens_in_openslide_and_tiffslide(tmp_path):
    import torch, tiffslide, openslide
    from diffinfinite_nb.core import make_generator
    from diffinfinite_nb.pipeline import DiffInfinitePipeline
    from diffinfinite_nb.slide import halve
    lay = _layout(); Image.fromarray(lay).save(tmp_path/'layout.png')
    r = run('sample', '--layout', tmp_path/'layout.png', '--out', tmp_path/'slide.tif', '--steps', '2', '--mpp', '0.25', '--device', 'cpu')
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(r.stdout.strip().splitlines()) == 1, r.stdout                          # a one-line summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ['layout.png', 'slide.geojson', 'slide.tif', 'slide_classes.json', 'slide_mask.tif', 'slide_preview.png']
    torch.set_num_threads(1)
    mem = DiffInfinitePipeline.from_pretrained()(lay, num_inference_steps=2, generator=make_generator(0), output_type='np', progress=False)
    ref = (np.clip(mem.images[0], 0, 1)*255).round().astype(np.uint8)
    o, t = openslide.OpenSlide(tmp_path/'slide.tif'), tiffslide.TiffSlide(tmp_path/'slide.tif')
    assert o.level_dimensions == t.level_dimensions == ((512, 384), (256, 192)), o.level_dimensions
    assert abs(float(o.properties['openslide.mpp-x']) - 0.25) < 1e-6, o.properties['openslide.mpp-x']
    for level, want in ((0, ref), (1, halve(ref, np.zeros((192, 256, 3), np.uint8)))):
        f = 2**level
        a = np.asarray(o.read_region((64, 32), level, (96, 80)).convert('RGB')).astype(float)
        b = t.read_region((64, 32), level, (96, 80), as_array=True).astype(float)
        w = want[32//f:32//f + 80, 64//f:64//f + 96].astype(float)
        blocks = lambda x: x.mean(-1).reshape(10, 8, 12, 8).mean((1, 3))            # JPEG keeps 8x8 block means
        for got in (a, b):
            err = np.abs(blocks(got) - blocks(w)).mean()
            assert err < 2, f"level {level}: 8x8 block means differ by {err:.2f} grey levels"
        assert np.corrcoef(a.ravel(), w.ravel())[0, 1] > 0.9                          # and the texture is the same one
    m = tiffslide.TiffSlide(tmp_path/'slide_mask.tif').read_region((0, 0), 0, (512, 384), as_array=True).reshape(384, 512)
    assert (m == mem.masks[0]).all(), 'the mask file holds the class ids the image model was asked to paint'
    from diffinfinite_nb.wsi import AnnotationMap                                  # QuPath's annotations: the same mask, pixel for pixel
    ann = AnnotationMap.from_geojson(tmp_path/'slide.geojson', mem_classes := DiffInfinitePipeline.from_pretrained().classes)
    assert (ann.rasterize(0, 0, (384, 512)) == mem.masks[0]).all()
    feats = json.loads((tmp_path/'slide.geojson').read_text())['features']
    assert {f['properties']['classification']['name'] for f in feats} == {mem_classes.names[c] for c in np.unique(mem.masks[0]) if c > 0}

@pytest.mark.shared
def test_sample_from_a_size_draws_its_own_layout(tmp_path):
    r = run('sample', '--size', '256', '--out', tmp_path/'s.tif', '--steps', '2', '--mask-steps', '2', '--device', 'cpu')
    assert r.returncode == 0, r.stderr[-3000:]
    import tiffslide
    m = tiffslide.TiffSlide(tmp_path/'s_mask.tif').read_region((0, 0), 0, (256, 256), as_array=True)
    assert set(np.unique(m)) <= {0, 1, 3, 4, 5}, np.unique(m)                         # the lung classes and glass, at full resolution

BAD = {
    'ids outside the table': (lambda d: (Image.fromarray(np.full((64, 64), 9, np.uint8)).save(d/'l.png'), ['--layout', d/'l.png'])[1], 'not in the class table'),
    'an RGB picture': (lambda d: (Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(d/'l.png'), ['--layout', d/'l.png'])[1], 'colour (RGB) picture'),
    'a 3-D array': (lambda d: (np.save(d/'l.npy', np.zeros((2, 64, 64), np.uint8)), ['--layout', d/'l.npy'])[1], '2-D class map'),
    'an empty file': (lambda d: ((d/'l.png').write_bytes(b''), ['--layout', d/'l.png'])[1], 'empty file'),
    'not an image': (lambda d: ((d/'l.png').write_text('hello'), ['--layout', d/'l.png'])[1], 'not an image'),
    'a size off the factor': (lambda d: ['--size', '60'], 'multiple of the autoencoder factor'),
    'a zero size': (lambda d: ['--size', '0'], 'must be positive'),
    'a negative size': (lambda d: ['--size', '-64'], 'must be positive'),
    'a missing model': (lambda d: ['--size', '64', '--model', d/'nothing'], 'not found'),
    'an unknown suffix': (lambda d: ['--size', '64', '--out', d/'x.xyz'], "unknown output suffix '.xyz'"),
    'an unknown device': (lambda d: ['--size', '64', '--device', 'tpu9'], "unknown device 'tpu9'"),
    'zero steps': (lambda d: ['--size', '64', '--steps', '0'], '--steps must be a whole number from 1 to 10000, got 0'),
    'an unwritable folder': (lambda d: ['--size', '64', '--out', '/proc/x.tif'], 'not writable'),
}

@pytest.mark.shared
@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case):
    make, msg = BAD[case]
    args = make(tmp_path)
    out = [] if '--out' in args else ['--out', tmp_path/'slide.tif']
    inputs = {p.name for p in tmp_path.iterdir()}
    r = run('sample', *args, *out)
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and lines[0].startswith('diffinfinite sample: error:'), r.stderr[-2000:]
    no_files(tmp_path, keep=inputs)

@pytest.mark.shared
def test_existing_output_needs_overwrite_and_a_corrupt_model_is_named(tmp_path):
    (tmp_path/'slide.tif').write_bytes(b'mine')
    r = run('sample', '--size', '64', '--out', tmp_path/'slide.tif')
    assert r.returncode != 0 and 'pass --overwrite' in r.stderr, r.stderr[-2000:]
    assert (tmp_path/'slide.tif').read_bytes() == b'mine'                              # nothing already written is lost
    shutil.copytree(BUNDLED_PIPELINE, tmp_path/'pipe')
    w = tmp_path/'pipe'/'unet'/'diffusion_pytorch_model.safetensors'; w.write_bytes(w.read_bytes()[:1000])
    r = run('sample', '--size', '64', '--out', tmp_path/'o.tif', '--model', tmp_path/'pipe')
    assert r.returncode != 0 and 'cannot load the network' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert not (tmp_path/'o.tif').exists()

@pytest.mark.shared
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_stopping_a_run_leaves_nothing(tmp_path, sig):
    Image.fromarray(_layout((1024, 1024))).save(tmp_path/'l.png')
    p = subprocess.Popen(['diffinfinite', 'sample', '--layout', str(tmp_path/'l.png'), '--out', str(tmp_path/'slide.tif'), '--steps', '50',
                          '--device', 'cpu'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.time() + 120
    while time.time() < deadline and not any(q.name.startswith('.slide.tif.') for q in tmp_path.iterdir()): time.sleep(0.2)
    time.sleep(1)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert 'interrupted; no output written' in err, err[-2000:]
    no_files(tmp_path, keep={'l.png'})
