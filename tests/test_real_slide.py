"A real scanner file end to end: the README's own-slides commands on the CMU-1 Aperio region, and a generated slide read back and trained on."
import json, os, shutil, subprocess, uuid
import numpy as np
import pytest
from diffinfinite_nb.core import find_shared, has_shared

CMU = ('data', 'slides', 'cmu-1-small-region.svs')
pytestmark = pytest.mark.skipif(not has_shared(*CMU), reason=f"real slide {'/'.join(CMU)} not in the shared data folder")
CLASS_MAP = 'Tumor=carcinoma,Stroma=tumour stroma'

def _run(*args):
    return subprocess.run(['diffinfinite', *map(str, args)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})

def _feature(geometry, obj='annotation', name=None, colour=None):
    "One feature as QuPath's *Export objects as GeoJSON* writes it."
    props = dict(objectType=obj, isLocked=False)
    if name: props['classification'] = dict(name=name, color=colour)
    return dict(type='Feature', id=str(uuid.uuid4()), geometry=geometry, properties=props)

def _rect(x0, y0, x1, y1): return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]

def _qupath_geojson(path):
    "Tumour as a MultiPolygon (one part with a hole), stroma as a Polygon, plus a point annotation and a detection that are left out."
    feats = [_feature(dict(type='MultiPolygon', coordinates=[[_rect(900, 1500, 1500, 2300), _rect(1100, 1800, 1250, 1950)],
                                                             [_rect(1500, 300, 1700, 500)]]), name='Tumor', colour=[200, 0, 0]),
             _feature(dict(type='Polygon', coordinates=[_rect(600, 2350, 1100, 2900)]), name='Stroma', colour=[150, 200, 150]),
             _feature(dict(type='MultiPoint', coordinates=[[1000, 1000], [1200, 1200]]), name='Tumor', colour=[200, 0, 0]),
             _feature(dict(type='Polygon', coordinates=[_rect(1000, 1000, 1020, 1020)]), obj='detection', name='Tumor', colour=[200, 0, 0])]
    path.write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    return path

def test_qupath_export_of_the_real_slide(tmp_path):
    "The hole is unannotated, the point and the detection are left out, and the classes land where they were drawn."
    from diffinfinite_nb.wsi import Slide, open_annotations
    slide = Slide(find_shared().joinpath(*CMU))
    ann = open_annotations(_qupath_geojson(tmp_path/'cmu.geojson'), slide, class_map=dict(Tumor='carcinoma', Stroma='tumour stroma'))
    assert len(ann) == 2, ann
    m = ann.rasterize(0, 0, (slide.height//4, slide.width//4), scale=4.)     # 4 level-0 px per pixel
    assert m[1650//4, 1000//4] == 1 and m[1875//4, 1175//4] == 0 and m[400//4, 1600//4] == 1   # tumour, its hole, its 2nd part
    assert m[2600//4, 800//4] == 3 and m[1010//4, 1010//4] == 0                                # stroma; the detection is not a class

def test_readme_own_slides_commands_on_a_real_svs(tmp_path):
    "`diffinfinite cache`, `train` (image), `train --kind mask`, `pipeline` and `sample` as the README gives them, on the real Aperio file."
    from diffinfinite_nb.autoencoder import LatentDataset
    slides = tmp_path/'slides'; slides.mkdir()
    shutil.copy(find_shared().joinpath(*CMU), slides)
    _qupath_geojson(slides/'cmu-1-small-region.geojson')
    r = _run('cache', slides, '--out', tmp_path/'runs'/'image'/'latents.safetensors', '--class-map', CLASS_MAP, '--mpp', 0.5, '--size', 256,
             '--crops', 2)                                                      # two passes: the grid, then jittered patches
    assert r.returncode == 0, r.stderr[-3000:]
    cache = LatentDataset(tmp_path/'runs'/'image'/'latents.safetensors')
    assert len(cache) >= 2*20 and 0 < int(cache.labelled.sum()) < len(cache), (len(cache), int(cache.labelled.sum()))
    assert set(cache.mask[cache.labelled].unique().tolist()) == {0, 1, 3}   # unknown, carcinoma, tumour stroma
    r = _run('train', '--data', slides, '--class-map', CLASS_MAP, '--mpp', 0.5, '--size', 256, '--out', tmp_path/'runs'/'image',
             '--steps', 3, '--batch-size', 4, '--base-channels', 8, '--ckpt-every', 0)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'runs'/'image'/'model').is_dir()
    r = _run('train', '--kind', 'mask', '--data', slides, '--class-map', CLASS_MAP, '--out', tmp_path/'runs'/'mask',
             '--steps', 3, '--batch-size', 4, '--ckpt-every', 0)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'runs'/'mask'/'model').is_dir()
    assert 'Traceback' not in r.stderr
    r = _run('pipeline', '--image', tmp_path/'runs'/'image'/'model', '--mask', tmp_path/'runs'/'mask'/'model', '--out', tmp_path/'runs'/'pipeline')
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run('sample', '--model', tmp_path/'runs'/'pipeline', '--size', 256, '--out', tmp_path/'mine.tif', '--steps', 2, '--mask-steps', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'mine.geojson').exists() and (tmp_path/'mine_mask.tif').exists()

def test_a_generated_slide_is_training_data(tmp_path):
    "`diffinfinite sample` -> `Slide` (µm/px from the file, its QuPath annotations as labels) -> `train` -> `sample` again."
    import tiffslide
    from diffinfinite_nb.wsi import Slide, read_slides
    from PIL import Image
    gen = tmp_path/'gen'; gen.mkdir()
    lay = np.full((256, 256), 3, np.uint8); lay[:, :128] = 1                                   # carcinoma beside stroma: tissue throughout
    Image.fromarray(lay).save(tmp_path/'layout.png')
    r = _run('sample', '--layout', tmp_path/'layout.png', '--out', gen/'s.tif', '--steps', 2, '--mpp', 0.5)
    assert r.returncode == 0, r.stderr[-3000:]
    s = Slide(gen/'s.tif')
    assert (s.width, s.height, s.mpp) == (256, 256, 0.5)
    srcs, _ = read_slides(gen)
    assert [(p.slide.name, p.annotations.name) for p in srcs] == [('s.tif', 's.geojson')]       # the annotations it wrote
    from diffinfinite_nb.wsi import open_annotations
    m = tiffslide.TiffSlide(gen/'s_mask.tif').read_region((0, 0), 0, (256, 256), as_array=True).reshape(256, 256)
    assert (open_annotations(gen/'s.geojson', s).rasterize(0, 0, (256, 256)) == m).all()        # and they are its mask
    r = _run('train', '--data', gen, '--mpp', 0.5, '--size', 128, '--out', tmp_path/'run', '--steps', 2, '--batch-size', 4,
             '--base-channels', 8, '--ckpt-every', 0)
    assert r.returncode == 0, r.stderr[-3000:]
    from diffinfinite_nb.pipeline import DiffInfinitePipeline
    from diffinfinite_nb.folder import load_model_folder
    from diffinfinite_nb.unet import DiffInfiniteUNet                                          # the new image model with the shipped mask model
    DiffInfinitePipeline.from_model_folders(load_model_folder(tmp_path/'run'/'model', DiffInfiniteUNet),
                                            DiffInfinitePipeline.from_pretrained().mask).save_pretrained(tmp_path/'pipe')
    r = _run('sample', '--model', tmp_path/'pipe', '--size', 128, '--out', tmp_path/'again.tif', '--steps', 2, '--mask-steps', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert tiffslide.TiffSlide(tmp_path/'again.tif').dimensions == (128, 128)
