"""How Alg. 2 grows with the image: crop selection and sampling time against pixels, memory bounded by the batch, a
32768² output from a memory-mapped state streamed into a whole-slide file, and the cost of Hann decoding.

Every size runs in its own process (clean peak memory). Memory is the anonymous resident set (heap and arrays,
sampled every 20 ms): pages of memory-mapped files are file cache and are not counted. The model is the `tiny`
configuration with random weights (4 latent channels, patch 16, guidance 2, two classes and unknown), so the
figures are the sampler's own cost, not a trained model's. The 32768² run (a 4096² latent, 170k crops a step) would
take the tiny U-Net most of an hour on two cores, so it uses a stand-in network of the same interface (one 1x1
convolution): it measures the memory path at slide size, the U-Net's cost per pixel is measured at the smaller
sizes. Writes benchmarks/results/scaling.json.
Run: python benchmarks/scaling.py [--quick]
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from slide_memory import PeakAnon, anon_mib

def _setup(stand_in=False):
    import torch
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
    torch.manual_seed(0)
    if not stand_in: return torch, randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval()
    class StandIn(torch.nn.Module):
        "The sampler-facing interface of `DiffInfiniteUNet` around one 1x1 convolution."
        null_label, size_multiple = 5, 4
        config = type('C', (), dict(in_channels=4))
        def __init__(self): super().__init__(); self.conv = torch.nn.Conv2d(5, 4, 1)
        def forward(self, x, t, labels, masks): return self.conv(torch.cat([x, masks[:, None]], 1))
    return torch, StandIn().eval()

def layout_of(n):
    "Blocky three-region layout `[n, n]`: unknown, carcinoma (1) and stroma (3)."
    import torch
    y, x = np.mgrid[:n, :n]
    lay = np.where((x//97 + y//83) % 3 == 0, 0, np.where(np.sin(x/61) + np.cos(y/47) > 0, 1, 3))
    return torch.from_numpy(lay.astype(np.int64))

def one(kind, n, batch, steps):
    "Run one measurement in this process; print a JSON line."
    from diffinfinite_nb.sampling import random_patch_sample, state_buffers, choose_crops
    from diffinfinite_nb.core import make_generator
    if kind == 'crops':
        g = make_generator(0); t0 = time.time(); c = choose_crops(n, n, 16, 16, g)
        return dict(latent=n, crops=len(c), seconds=time.time() - t0)
    torch, net = _setup(stand_in=kind == 'memmap')
    lay = layout_of(n)
    with tempfile.TemporaryDirectory(dir=HERE) as d:
        state = state_buffers(d, (1, 4, n, n)) if kind == 'memmap' else None
        before = anon_mib()
        with PeakAnon() as pk:
            t0 = time.time()
            x, info = random_patch_sample(net, lay, num_inference_steps=steps, guidance_scale=2., patch=16, generator=make_generator(0),
                                          crop_batch_size=batch, state=state, progress=False)
            t_sample = time.time() - t0
        res = dict(latent=n, pixels=(8*n)**2, batch=batch, steps=steps, nfe_per_step=info.nfe_per_step[-1], sample_s=t_sample,
                   peak_anon_mib=pk.peak, before_mib=before, state_mib=2*4*4*n*n/2**20)
        if kind == 'memmap':                                  # stream the decode into the whole-slide writer
            import torch.nn.functional as F
            from diffinfinite_nb.decoding import decode_tiled
            from diffinfinite_nb.slide import write_pyramid
            w = torch.randn(3, 4, 1, 1, generator=make_generator(1))*0.3
            def linear_decoder(z): return torch.sigmoid(F.conv2d(F.interpolate(z, scale_factor=8, mode='nearest'), w))
            linear_decoder.downsample = 8
            img = np.lib.format.open_memmap(Path(d)/'image.npy', 'w+', np.uint8, (8*n, 8*n, 3))
            with PeakAnon() as pk2:
                t0 = time.time(); decode_tiled(linear_decoder, x[0], tile=32, out=img, progress=False); t_dec = time.time() - t0
                t0 = time.time(); write_pyramid(Path(d)/'slide.tif', img, progress=False); t_write = time.time() - t0
            res.update(decode_s=t_dec, write_s=t_write, decode_write_peak_anon_mib=pk2.peak, image_gib=(8*n)**2*3/2**30,
                       slide_tif_mib=(Path(d)/'slide.tif').stat().st_size/2**20)
            del img
        del x, state
    return res

def hann_ratio():
    "Hann-window decoding time over one plain tiled decode, TAEF2 on a 64² latent (512² image)."
    import torch
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    from diffinfinite_nb.autoencoder import TAEF2
    from diffinfinite_nb.decoding import decode_tiled
    ae = TAEF2.from_pretrained()
    z = torch.randn(32, 64, 64, generator=torch.Generator().manual_seed(0))
    times = {}
    for blend in ('none', 'hann', 'none', 'hann'):                # interleaved, best of two
        t0 = time.time(); decode_tiled(ae.decode, z, tile=16, blend=blend, progress=False)
        times[blend] = min(times.get(blend, 1e9), time.time() - t0)
    return dict(plain_s=times['none'], hann_s=times['hann'], ratio=times['hann']/times['none'])

def run(args):
    r = subprocess.run([sys.executable, __file__, '--one', *map(str, args)], capture_output=True, text=True, timeout=900)
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

def slope(xs, ys): return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--one', nargs=4); ap.add_argument('--hann', action='store_true'); ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    if a.one:
        kind, n, batch, steps = a.one
        print(json.dumps(one(kind, int(n), int(batch), int(steps)))); sys.exit()
    if a.hann: print(json.dumps(hann_ratio())); sys.exit()
    t_all = time.time()
    sizes = [64, 128, 256] if a.quick else [64, 128, 256, 512, 1024]                  # latent sides: 512² .. 8192² pixels
    crops = [run(['crops', n, 0, 0]) for n in sizes + [4096]]
    print(f"{'latent':>7} {'crops':>7} {'choose_crops':>13}")
    for c in crops: print(f"{c['latent']:>6}² {c['crops']:>7} {c['seconds']:>11.3f} s")
    crop_exp = slope([c['latent']**2 for c in crops[2:]], [c['seconds'] for c in crops[2:]])
    samp = [run(['ram', n, 64, 1]) for n in sizes]
    print(f"\n{'image':>7} {'NFE/step':>9} {'sample (1 step)':>17} {'peak anon':>10} {'state':>8} {'peak - state':>13}")
    for s in samp:
        print(f"{8*s['latent']:>6}² {s['nfe_per_step']:>9} {s['sample_s']:>15.1f} s {s['peak_anon_mib']:>6.0f} MiB {s['state_mib']:>4.0f} MiB "
              f"{s['peak_anon_mib'] - s['state_mib']:>9.0f} MiB")
    big = [s for s in samp if s['latent'] >= 128]
    time_exp = slope([s['pixels'] for s in big], [s['sample_s'] for s in big])
    nb = sizes[-3]
    batches = [run(['ram', nb, b, 1]) for b in (16, 64, 256)]
    print(f"\n{8*nb}², one step: peak anon memory by crop_batch_size: " + ', '.join(f"{b['batch']}: {b['peak_anon_mib']:.0f} MiB" for b in batches))
    mm = run(['memmap', 1024 if a.quick else 4096, 64, 1])
    print(f"\n{8*mm['latent']}² output ({mm['latent']}² latent, stand-in network), state memory-mapped: one step {mm['sample_s']:.0f} s "
          f"(NFE {mm['nfe_per_step']}), peak anon {mm['peak_anon_mib']:.0f} MiB for a {mm['state_mib']:.0f} MiB state; "
          f"streamed decode {mm['decode_s']:.0f} s + pyramid {mm['write_s']:.0f} s of a {mm['image_gib']:.1f} GiB image, "
          f"peak anon {mm['decode_write_peak_anon_mib']:.0f} MiB")
    r = subprocess.run([sys.executable, __file__, '--hann'], capture_output=True, text=True, timeout=900)
    hann = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nHann decoding (TAEF2, 512²): {hann['hann_s']:.2f} s vs plain tiles {hann['plain_s']:.2f} s: {hann['ratio']:.2f}x (target <= 4.5x)")
    print(f"\nexponents (log time / log pixels): choose_crops {crop_exp:.2f}, sampling {time_exp:.2f} (target <= 1.1)")
    res = dict(machine=dict(cpu=platform.machine(), threads=os.cpu_count(), torch_threads=int(os.environ.get('THREADS', '2'))),
               choose_crops=crops, sampling=samp, crop_batch_size=batches, memmap=mm, hann=hann,
               exponent_choose_crops=round(crop_exp, 3), exponent_sampling=round(time_exp, 3), seconds=round(time.time() - t_all))
    out = HERE/'results'/('scaling_quick.json' if a.quick else 'scaling.json'); out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"\n{out.name} written ({res['seconds']} s)")
