"""The sampler's own cost per crop (Alg. 2 without the network), this version against the commit before the rewrite.

A null network (it returns its input: no arithmetic) isolates what the sampler itself does per crop: choosing crops,
listing evaluations, cutting inputs and masks, combining the guided noise, the DDIM update and writing the new state.
For each latent size (256², 512², 1024²), placement (shifted grid, the paper's random crops) and latent depth (4
channels: SD-2's VAE; 32: TAEF2) it measures, in one run, for the reference sampler (`REF`, read from git) and this one:

- `ms/crop`: wall time per crop of steps 2 and 3 (the first step and the start noise are set-up), on the CPU;
- `ops/crop`: ATen operators dispatched per crop in one step. On a GPU each one is a kernel launch, and Python
  dispatch costs roughly 5-10 µs per op, whether the kernel is tiny or not, so this count is the host-side overhead the GPU
  waits on. It is counted on the path each device takes: slices on the CPU (`CPU_SLICES`), index tensors on accelerators;
- `syncs/crop`: operators whose result size or value the host must wait for (`nonzero`, `item`, `unique`,
  `masked_select`): each stalls a GPU's queue.

Both samplers get the same seed: `bit-identical` says whether they return the same latent. A last table measures the
share of a step spent outside the network with the bundled lung image model (a 1024² image, 128² latent).
Writes benchmarks/results/sampler_overhead.json. Run: python benchmarks/sampler_overhead.py [--quick]
"""
import argparse, importlib.util, json, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent
REF = 'ae05f58'                     # the last commit with the per-crop sampler
SYNC_OPS = {'nonzero', '_local_scalar_dense', '_unique2', 'unique_dim', 'unique_consecutive', 'masked_select'}

def reference_sampler():
    "The sampling module of commit `REF`, imported from git (None outside a git checkout)."
    try: src = subprocess.run(['git', 'show', f'{REF}:diffinfinite_nb/sampling.py'], cwd=HERE.parent, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): return None
    spec = importlib.util.spec_from_loader('diffinfinite_nb._reference_sampling', loader=None)
    mod = importlib.util.module_from_spec(spec); mod.__package__ = 'diffinfinite_nb'
    sys.modules[spec.name] = mod                       # dataclasses look their module up
    exec(compile(src, f'{REF}:sampling.py', 'exec'), mod.__dict__)
    return mod

def null_net(channels):
    import torch
    class NullNet(torch.nn.Module):
        "The sampler-facing interface of `DiffInfiniteUNet` (6 classes, null label 6), doing nothing."
        null_label, size_multiple = 6, 2
        config = type('C', (), dict(in_channels=channels))
        def __init__(self): super().__init__(); self.p = torch.nn.Parameter(torch.zeros(1))
        def forward(self, x, t, labels, masks): return x
    return NullNet().eval()

def layout_of(n):
    "Blocky three-region layout `[n, n]` at latent scale: unknown, carcinoma (1) and stroma (3)."
    import numpy as np, torch
    y, x = np.mgrid[:n, :n]
    lay = np.where((x//13 + y//11) % 3 == 0, 0, np.where(np.sin(x/8) + np.cos(y/6) > 0, 1, 3))
    return torch.from_numpy(lay.astype(np.int64))

def op_counter():
    "A dispatch mode counting ATen operators (and host-sync operators) by name."
    from torch.utils._python_dispatch import TorchDispatchMode
    class Count(TorchDispatchMode):
        def __init__(self): super().__init__(); self.ops = self.syncs = 0
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1; self.syncs += func._schema.name.split('::')[-1] in SYNC_OPS
            return func(*args, **(kwargs or {}))
    return Count()

def run(mod, net, lay, placement, steps=3, patch=32, batch=64, count=False):
    "(latent, per-step seconds, crops per step, ops and syncs of step 2) of one sampling run."
    import torch
    from diffinfinite_nb.core import make_generator
    marks, counter = [], op_counter() if count else None
    def cb(i, t, x):
        marks.append(time.perf_counter())
        if count and i == 0: counter.__enter__()
        if count and i == 1: counter.__exit__(None, None, None)
    x, info = mod.random_patch_sample(net, lay, num_inference_steps=steps, guidance_scale=2., patch=patch, crop_batch_size=batch,
                                      generator=make_generator(0), placement=placement, callback=cb, progress=False)
    return x, [b - a for a, b in zip(marks, marks[1:])], [len(c) for c in info.crops], counter

def overhead(ref, sizes, placements, depths):
    import torch
    from diffinfinite_nb import sampling
    rows = []
    for n in sizes:
        lay = layout_of(n)
        for placement in placements:
            for C in depths:
                net, r = null_net(C), dict(latent=n, placement=placement, channels=C)
                for name, mod in (('ref', ref), ('new', sampling)):
                    if mod is None: continue
                    mod.random_patch_sample(net, lay[:64, :64], num_inference_steps=1, patch=32, progress=False)     # warm-up
                    x, dts, crops, _ = run(mod, net, lay, placement)
                    r[f'{name}_ms_per_crop'] = 1e3*sum(dts)/sum(crops[1:])
                    _, _, crops, cnt = run(mod, net, lay, placement, steps=2, count=True)
                    r[f'{name}_ops_per_crop'], r[f'{name}_syncs_per_crop'] = cnt.ops/crops[1], cnt.syncs/crops[1]
                    if name == 'new':                  # the accelerator path (index tensors), counted on the CPU
                        sampling.CPU_SLICES = False
                        try:
                            xi, _, _, cnt = run(mod, net, lay, placement, steps=2, count=True)
                            r['new_index_ops_per_crop'], r['new_index_syncs_per_crop'] = cnt.ops/crops[1], cnt.syncs/crops[1]
                            xi3, _, _, _ = run(mod, net, lay, placement)
                            r['index_path_bit_identical'] = bool(torch.equal(xi3, x))
                        finally: sampling.CPU_SLICES = True
                    r[f'{name}_x'] = x
                r['crops_per_step'] = crops[1]
                if ref is not None:
                    r['bit_identical'] = bool(torch.equal(r.pop('ref_x'), r['new_x']))
                    r['speedup'] = r['ref_ms_per_crop']/r['new_ms_per_crop']
                    r['ops_ratio'] = r['ref_ops_per_crop']/r['new_index_ops_per_crop']
                r.pop('new_x')
                rows.append(r); print(fmt_row(r), flush=True)
    return rows

def fmt_row(r):
    g = lambda k, f='{:.3f}': f.format(r[k]) if k in r else '-'
    return (f"{r['latent']:>5}² {r['placement']:>6} C={r['channels']:<3} crops/step {r['crops_per_step']:>5} | ms/crop {g('ref_ms_per_crop')} -> "
            f"{g('new_ms_per_crop')} ({g('speedup', '{:.1f}')}x) | ops/crop {g('ref_ops_per_crop', '{:.1f}')} -> {g('new_ops_per_crop', '{:.2f}')} "
            f"(index path {g('new_index_ops_per_crop', '{:.2f}')}, {g('ops_ratio', '{:.0f}')}x) | syncs/crop {g('ref_syncs_per_crop', '{:.2f}')} -> "
            f"{g('new_index_syncs_per_crop', '{:.3f}')} | bit-identical {r.get('bit_identical', '-')}")

def bundled(ref, latent=128, steps=3):
    "Share of a step outside the network with the bundled lung image model (fp32), reference and new."
    import torch
    from diffinfinite_nb import sampling
    from diffinfinite_nb.pipeline import DiffInfinitePipeline, layout_to_latent
    pipe = DiffInfinitePipeline.from_pretrained()
    net, out = pipe.image.model, {}
    class Timed(torch.nn.Module):
        "The bundled network, timing its own calls."
        def __init__(self): super().__init__(); self.net, self.s = net, 0.
        def __getattr__(self, k):
            try: return super().__getattr__(k)
            except AttributeError: return getattr(self.net, k)
        def forward(self, *a):
            t0 = time.perf_counter(); r = self.net(*a); self.s += time.perf_counter() - t0; return r
    lay = layout_of(latent)
    lay[lay == 3] = 2                                  # the bundled model's ids: carcinoma 1, stroma 2
    for name, mod in (('ref', ref), ('new', sampling)):
        if mod is None: continue
        tm, marks = Timed().eval(), []
        def cb(i, t, x):
            marks.append((time.perf_counter(), tm.s))
        mod.random_patch_sample(tm, lay, num_inference_steps=steps, guidance_scale=2., patch=pipe.image.sample_size, crop_batch_size=64,
                                generator=torch.Generator().manual_seed(0), scheduler=pipe.image.scheduler_config, channels=32, callback=cb, progress=False)
        wall, netw = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
        out[name] = dict(step_s=wall/(steps - 1), network_s=netw/(steps - 1), outside_share=1 - netw/wall)
        print(f"bundled image model, {latent}² latent, {name}: {wall/(steps - 1):.2f} s/step, network {netw/(steps - 1):.2f} s, outside the network {1 - netw/wall:.1%}", flush=True)
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='256² and 512² only, grid placement')
    a = ap.parse_args()
    import torch
    threads = int(os.environ.get('THREADS', '2')); torch.set_num_threads(threads)
    ref = reference_sampler()
    if ref is None: print(f"no git history here: the reference sampler ({REF}) is left out")
    sizes, placements = ((256, 512), ('grid',)) if a.quick else ((256, 512, 1024), ('grid', 'random'))
    t0 = time.time()
    rows = overhead(ref, sizes, placements, (4, 32))
    res = dict(machine=dict(cpu=platform.machine(), threads=os.cpu_count(), torch_threads=threads, device='cpu'), reference=REF,
               overhead=rows, bundled=bundled(ref), seconds=time.time() - t0)
    if not a.quick:
        (HERE/'results').mkdir(exist_ok=True)
        (HERE/'results'/'sampler_overhead.json').write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
