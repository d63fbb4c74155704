"""The GPU check: one command that measures on one CUDA GPU what this CPU cannot, in under 9 minutes, and writes
benchmarks/results/gpu_check.json (and $OUT/gpu_check.json where $OUT is set).

  python benchmarks/gpu_check.py --prepare   # here, with ../shared and the package registry: fills benchmarks/gpu_carry/
  python benchmarks/gpu_check.py             # there, from a clean checkout with benchmarks/gpu_carry/ beside it

Without CUDA it prints one line and exits 0. On a bare GPU machine (torch there, nothing else, no network) it installs
the wheels carried in benchmarks/gpu_carry/wheels into /tmp/site and reads the data and TAEF2 weights carried in
benchmarks/gpu_carry/shared (raw WSSS4LUAD crops, encoded on the GPU; no cache). Sections, each with its own time
budget, each recorded even if another fails:

1. `pytest -m cuda tests/test_cuda.py`: bf16 and fp16 pipelines with CUDA generators, the accelerator path of Alg. 2
   against the CPU, bf16 training steps from a cache encoded on the GPU;
2. training throughput in bf16 (samples/s) of `lung-taef2` (32-channel TAEF2 latents) and `paper-image` (4-channel
   SD-2 latents) at 256² images (32² latents);
3. a 4096² slide with the bundled models in bf16: seconds, peak GPU memory, share of the image model's sampling time
   spent outside the network, seconds per network evaluation;
4. Hann decoding of a 4096² image (TAEF2, bf16);
5. `sampler_vs_peers.py` at 2048² on the GPU (the batching gain over the original procedure is a GPU figure).

The notebooks' `#| cuda` cells are the recipe of a paper-scale run (hours of training) and are not part of this check.
"""
import argparse, json, os, platform, shutil, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT, CARRY = HERE.parent, HERE/'gpu_carry'
RESULT = HERE/'results'/'gpu_check.json'
WHEELS = ['diffusers==0.42.1', 'fastcore==1.14.5', 'torch-fidelity==0.4.0', 'importlib-metadata==10.2.0', 'zipp==4.1.2']
DATA_MB = 20                                       # raw WSSS4LUAD crops carried (the limit is 40 MB)

def prepare():
    "Fill `gpu_carry/`: wheels the GPU machine lacks, the TAEF2 weights and a share of WSSS4LUAD (smallest images first)."
    sys.path.insert(0, str(ROOT))
    from diffinfinite_nb.core import shared_path
    if CARRY.exists(): shutil.rmtree(CARRY)
    (CARRY/'wheels').mkdir(parents=True)
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:', '--python-version', '3.12',
                    '--implementation', 'cp', '--platform', 'manylinux_2_28_x86_64', '--platform', 'manylinux_2_17_x86_64',
                    '--platform', 'manylinux2014_x86_64', '-d', str(CARRY/'wheels'), *WHEELS], check=True)
    shutil.copytree(shared_path('weights', 'taef2'), CARRY/'shared'/'weights'/'taef2')
    src, used = shared_path('data', 'wsss4luad'), 0
    imgs = sorted(src.glob('*/img/*.png'), key=lambda p: p.stat().st_size)
    for im in imgs:
        parts = [im, im.parent.parent/'mask'/im.name, im.parent.parent/'background-mask'/im.name]
        size = sum(p.stat().st_size for p in parts if p.exists())
        if used + size > DATA_MB << 20: break
        for p in parts:
            if p.exists():
                dst = CARRY/'shared'/'data'/'wsss4luad'/p.relative_to(src); dst.parent.mkdir(parents=True, exist_ok=True); shutil.copy(p, dst)
        used += size
    total = sum(f.stat().st_size for f in CARRY.rglob('*') if f.is_file())
    print(f"{CARRY}: {total/2**20:.1f} MiB ({used/2**20:.1f} MiB of WSSS4LUAD crops); run it there with carry ['benchmarks/gpu_carry']")

def bootstrap():
    "On a bare GPU machine: the carried wheels on the path, the repository importable, the carried data as the shared folder."
    site = Path('/tmp/site')
    try: import diffusers, fastcore  # noqa: F401
    except ImportError:
        wheels = sorted((CARRY/'wheels').glob('*.whl'))
        if not wheels: sys.exit("gpu_check: diffusers is not installed and benchmarks/gpu_carry/wheels is empty: run --prepare first")
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile', '--upgrade',
                        '--target', str(site), *map(str, wheels)], check=True)
        os.environ['PYTHONPATH'] = os.pathsep.join([str(site), str(ROOT), os.environ.get('PYTHONPATH', '')])
        os.execv(sys.executable, [sys.executable, *sys.argv])            # again, with the wheels importable
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])
    sys.path.insert(0, str(ROOT))
    if (CARRY/'shared').is_dir() and not (ROOT.parent/'shared').is_dir(): os.environ.setdefault('DIFFINFINITE_SHARED', str(CARRY/'shared'))

def timed(fn):
    "Run a section; its figures, or the error that stopped it, and its seconds."
    t0 = time.time()
    try: out = dict(fn(), ok=True)
    except Exception as e: out = dict(ok=False, error=f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    out['seconds'] = round(time.time() - t0, 1)
    return out

def cuda_tests():
    r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-m', 'cuda', 'tests/test_cuda.py', '-p', 'no:cacheprovider'], cwd=ROOT,
                       capture_output=True, text=True, timeout=240)
    last = (r.stdout.strip().splitlines() or [''])[-1]
    print(r.stdout[-3000:], r.stderr[-2000:], sep='\n')
    if r.returncode: raise RuntimeError(f"cuda tests failed: {last}")
    return dict(summary=last)

def throughput(steps=30, batch=64):
    import torch
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config
    from diffinfinite_nb.training import Trainer, TrainConfig
    out = {}
    for name, C in (('lung-taef2', 32), ('paper-image', 4)):
        g = torch.Generator().manual_seed(0)
        data = [dict(latent=torch.randn(C, 32, 32, generator=g), mask=torch.randint(0, 4, (32, 32), generator=g), context=torch.tensor(1),
                     labelled=torch.tensor(True)) for _ in range(4*batch)]
        tr = Trainer(DiffInfiniteUNet(**unet_config(name, in_channels=C)), data, TrainConfig(steps=steps + 5, batch_size=batch, mixed_precision='bf16'))
        tr.fit(5, progress=False); torch.cuda.synchronize(); t0 = time.time()
        tr.fit(steps + 5, progress=False); torch.cuda.synchronize()
        out[name] = dict(samples_per_s=round(steps*batch/(time.time() - t0), 1), batch=batch, latent=[C, 32, 32])
        print(f"training {name} bf16: {out[name]['samples_per_s']} samples/s", flush=True)
    return out

def slide_4096(size=4096, steps=20):
    import torch
    from diffinfinite_nb.pipeline import DiffInfinitePipeline
    pipe = DiffInfinitePipeline.from_pretrained(device='cuda', dtype=torch.bfloat16)
    net, spent, calls = pipe.image.model, [0.], [0]
    orig = net.forward
    def timed_forward(*a, **k):                       # the image network's own time (synchronised), call by call
        torch.cuda.synchronize(); t0 = time.time(); r = orig(*a, **k); torch.cuda.synchronize()
        spent[0] += time.time() - t0; calls[0] += 1; return r
    pipe(size=512, num_inference_steps=2, mask_num_inference_steps=2, progress=False)              # warm-up
    net.forward = timed_forward
    torch.cuda.reset_peak_memory_stats(); torch.cuda.synchronize(); t0, marks = time.time(), []
    res = pipe(size=size, num_inference_steps=steps, generator=torch.Generator('cuda').manual_seed(0), decode_batch_size=32, output_type='np', progress=False,
               callback_on_step_end=lambda p, i, t, d: marks.append((time.time(), spent[0], calls[0])))
    torch.cuda.synchronize(); total = time.time() - t0
    (ta, sa, ca), (tb, sb, cb) = marks[0], marks[-1]   # image-model steps 2..last
    return dict(size=size, steps=steps, seconds=round(total, 1), peak_gpu_gib=round(torch.cuda.max_memory_allocated()/2**30, 2),
                image_steps_s=round(tb - ta, 2), network_s=round(sb - sa, 2), outside_network_share=round(1 - (sb - sa)/(tb - ta), 3),
                s_per_evaluation=round((sb - sa)/max(cb - ca, 1), 5), nfe=res.info[0].nfe)

def hann_4096(size=4096):
    import torch
    from diffinfinite_nb.autoencoder import TAEF2
    from diffinfinite_nb.decoding import decode_tiled
    ae = TAEF2.from_pretrained(device='cuda', dtype=torch.bfloat16)
    z = torch.randn(32, size//8, size//8, device='cuda')
    decode_tiled(ae.decode, z[:, :64, :64], tile=32, factor=8, batch_size=32, progress=False)        # warm-up
    secs = {}
    for blend in ('hann', 'none'):
        torch.cuda.synchronize(); t0 = time.time()
        decode_tiled(ae.decode, z, tile=32, factor=8, batch_size=32, blend=blend, progress=False); torch.cuda.synchronize()
        secs[blend] = time.time() - t0
    return dict(size=size, hann_s=round(secs['hann'], 2), plain_s=round(secs['none'], 2), ratio=round(secs['hann']/secs['none'], 2))

def peers():
    env = {**os.environ, 'DEVICE': 'cuda'}
    r = subprocess.run([sys.executable, str(HERE/'sampler_vs_peers.py'), '--sizes', '256'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    print(r.stdout[-3000:])
    if r.returncode: raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'failed')
    return dict(json.loads((HERE/'results'/'sampler_vs_peers_cuda.json').read_text()))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--prepare', action='store_true', help='fill benchmarks/gpu_carry/ (here, with ../shared and the registry)')
    a = ap.parse_args()
    if a.prepare: return prepare()
    import torch
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here: nothing measured (run it on a GPU machine)"); return
    bootstrap()
    res = dict(machine=dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version()),
               started=time.strftime('%Y-%m-%d %H:%M:%S'))
    def save():
        RESULT.parent.mkdir(exist_ok=True); RESULT.write_text(json.dumps(res, indent=1))
        if os.environ.get('OUT'): shutil.copy(RESULT, Path(os.environ['OUT'])/RESULT.name)
    for name, fn in (('cuda_tests', cuda_tests), ('training_throughput', throughput), ('slide_4096', slide_4096),
                     ('hann_decoding_4096', hann_4096), ('sampler_vs_peers_2048', peers)):
        res[name] = timed(fn); save()
        print(f"gpu_check {name}: {json.dumps(res[name])[:400]}", flush=True)
    print(f"gpu_check: {RESULT} written")

if __name__ == '__main__': main()
