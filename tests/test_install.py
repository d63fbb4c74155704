"The install is consistent: torch-fidelity (which needs torchvision) imports, and the pinned pair is what runs."
import configparser, shlex
from pathlib import Path

def _pins():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(Path(__file__).parent.parent/'settings.ini')
    return dict(r.split('==') for r in shlex.split(cfg['DEFAULT']['requirements']) if '==' in r)

def test_torch_fidelity_imports():
    import torch_fidelity, torchvision
    assert hasattr(torch_fidelity, 'calculate_metrics')
    torchvision.ops.nms  # the compiled ops load, i.e. torchvision matches torch

def test_pinned_versions_are_installed():
    import torch, torchvision
    pins = _pins()
    assert torch.__version__.split('+')[0] == pins['torch']
    assert torchvision.__version__.split('+')[0] == pins['torchvision']

def test_nbdev2_toolchain():
    import nbdev, execnb, fastcore
    assert nbdev.__version__.startswith('2.4.'), nbdev.__version__
    assert execnb.__version__.startswith('0.1.') and fastcore.__version__.startswith('1.')
