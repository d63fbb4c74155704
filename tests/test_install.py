"The install is consistent: torch-fidelity (which needs torchvision) imports, and the pinned pair is what runs."
import configparser, shlex
from pathlib import Path

def _pins():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(Path(__file__).parent.parent/'settings.ini')
    return dict(r.split('==') for r in shlex.split(cfg['DEFAULT']['requirements']) if '==' in r)

def test_torch_fidelity_imports():
    import torch, torch_fidelity, torchvision
    assert hasattr(torch_fidelity, 'calculate_metrics')
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)   # a compiled op: torchvision matches torch
    assert keep.tolist() == [0, 2], keep

def test_pinned_versions_are_installed():
    import torch, torchvision
    pins = _pins()
    assert torch.__version__.split('+')[0] == pins['torch'], (torch.__version__, pins)
    assert torchvision.__version__.split('+')[0] == pins['torchvision'], (torchvision.__version__, pins)

def test_nbdev2_toolchain():
    import nbdev, execnb, fastcore
    assert nbdev.__version__.startswith('2.4.'), nbdev.__version__
    assert execnb.__version__.startswith('0.1.') and fastcore.__version__.startswith('1.')
