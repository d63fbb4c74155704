"""Training throughput: cached latents vs encoding on the fly (samples/s), measured in one run, then samples/s of
each candidate recipe of the quality work (width, depth, attention, crop size) from cached latents, on this machine's
CPU and, when a GPU is present, on the GPU in bf16 (labelled as such).

    python benchmarks/train_throughput.py [--steps 20] [--batch-size 8] [--size 256] [--threads 2]

Real data: WSSS4LUAD 256-px lung patches, TAEF2 latents (32 x 32 x 32), a small U-Net (base 32).
Prints the figures and writes benchmarks/results/train_throughput.json.
"""
import argparse, json, platform, time, warnings
from pathlib import Path
import torch

RECIPES = {   # name: (U-Net overrides of 'lung-taef2', latent side): 16 = 128-px crops, 32 = 256-px crops
    'shipped (base 48, 2 levels), 128 px': (dict(), 16),
    'shipped, 256 px': (dict(), 32),
    'base 64, 3 levels, 256 px': (dict(base_channels=64, channel_mults=(1, 2, 4), attn_levels=(2,)), 32),
    'base 64, 3 levels, 2 res blocks, 256 px': (dict(base_channels=64, channel_mults=(1, 2, 4), num_res_blocks=2, attn_levels=(2,)), 32),
    'paper-image width (base 256, 3 levels), 256 px': (dict(base_channels=256, channel_mults=(1, 2, 4), num_res_blocks=2, attn_levels=(1, 2),
                                                         heads=8, groups=32), 32),
}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--base-channels', type=int, default=32)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'train_throughput.json'))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter('ignore')
    from diffinfinite_nb.data import PatchDataset, read_wsss4luad
    from diffinfinite_nb.autoencoder import TAEF2, build_latent_cache, LatentDataset
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config
    from diffinfinite_nb.training import Trainer, TrainConfig
    import tempfile

    ds = PatchDataset(read_wsss4luad(), size=a.size, seed=0, validate=False)
    ae = TAEF2.from_pretrained()
    n_cache = a.steps*a.batch_size
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        cache = build_latent_cache(ae, ds, Path(d)/'cache.safetensors', batch_size=16, n=min(n_cache, len(ds)), progress=False)
        t_cache = time.perf_counter() - t0
        lds = LatentDataset(cache)
        def run(dataset, autoencoder):
            torch.manual_seed(0)
            model = DiffInfiniteUNet(**unet_config('lung-taef2', base_channels=a.base_channels, input_skip=False))
            tr = Trainer(model, dataset, TrainConfig(steps=a.steps + 2, batch_size=a.batch_size), autoencoder=autoencoder)
            tr.train_step(); tr.train_step()                                  # warm-up
            t0 = time.perf_counter()
            for _ in range(a.steps): tr.train_step()
            return a.steps*a.batch_size/(time.perf_counter() - t0)
        cached = run(lds, None)
        onthefly = run(ds, ae)
        class Crop(torch.utils.data.Dataset):                                 # 16² latents: the top-left of the 32² ones
            def __init__(self, ds, n): self.ds, self.n = ds, n
            def __len__(self): return len(self.ds)
            def __getitem__(self, i):
                s = dict(self.ds[i]); s['latent'], s['mask'] = s['latent'][:, :self.n, :self.n], s['mask'][:self.n, :self.n]; return s
        def recipe(over, side, device, steps):
            torch.manual_seed(0)
            model = DiffInfiniteUNet(**unet_config('lung-taef2', **{'input_skip': False, **over}))
            mp = 'bf16' if device == 'cuda' else 'no'
            tr = Trainer(model, Crop(lds, side) if side < 32 else lds,
                         TrainConfig(steps=steps + 2, batch_size=a.batch_size, mixed_precision=mp))
            tr.train_step(); tr.train_step()
            if device == 'cuda': torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(steps): tr.train_step()
            if device == 'cuda': torch.cuda.synchronize()
            return dict(samples_per_s=round(steps*a.batch_size/(time.perf_counter() - t0), 2),
                        parameters_m=round(sum(p.numel() for p in model.parameters())/1e6, 2))
        devices = ['cuda'] if torch.cuda.is_available() else ['cpu']          # the trainer takes the GPU when there is one
        recipes = {f"{name} [{'GPU bf16' if dev == 'cuda' else 'CPU fp32'}]": recipe(over, side, dev, a.steps if dev == 'cuda' else max(3, a.steps//4))
                   for dev in devices for name, (over, side) in RECIPES.items()
                   if dev == 'cuda' or 'paper' not in name}
    print(f"{'recipe':>62} {'M params':>9} {'samples/s':>10}")
    for k, v in recipes.items(): print(f"{k:>62} {v['parameters_m']:>9} {v['samples_per_s']:>10}")
    res = dict(cached_latents_samples_per_s=round(cached, 2), on_the_fly_samples_per_s=round(onthefly, 2),
               speedup=round(cached/onthefly, 2), cache_build_s=round(t_cache, 2), cache_images=min(n_cache, len(ds)),
               patch_size=a.size, batch_size=a.batch_size, steps=a.steps, threads=a.threads, base_channels=a.base_channels,
               device='cpu', cpu=platform.processor() or platform.machine(), torch=torch.__version__, recipes=recipes,
               gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    print(f"cached latents : {cached:7.2f} samples/s")
    print(f"on-the-fly     : {onthefly:7.2f} samples/s  (TAEF2 encode of {a.size}px patches inside each step)")
    print(f"speed-up       : {cached/onthefly:.1f}x; building the cache of {res['cache_images']} patches took {t_cache:.1f} s")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    print('wrote', a.out)

if __name__ == '__main__': main()
