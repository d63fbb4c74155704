"""Alg. 2 as this library runs it, against its peers, at 1024², 2048² and 4096² outputs (128² to 512² latents):

- `random patch`: `random_patch_sample` as it runs by default (crops of a randomly shifted grid, batched, one
  unconditional evaluation per crop shared by its classes);
- `random patch, paper placement`: the same with `placement='random'` (each crop around a random uncovered pixel, as
  the paper draws them: crops overlap and the overlaps are computed twice);
- `original`: the original DiffInfinite procedure, one crop at a time around a random least-advanced pixel, each label
  present (unknown included, as the original treats it as a class) with its own conditional and unconditional
  evaluation, sequentially;
- `panorama (diffusers)`: diffusers' `StableDiffusionPanoramaPipeline` (MultiDiffusion: 64-latent windows, stride 8,
  `view_batch_size` 16), real code with tiny components built from configs and prompt embeddings passed directly;
- `panorama rule, our U-Net`: the same averaging rule (`sliding_window_sample`, stride 8) with our U-Net, so the
  U-Net cost per evaluation is equal to ours.

All run the same DDIM step(s) with guidance on a layout of two classes and unknown; 64-latent crops as in
the paper. The U-Nets are tiny and random: the figures are the samplers' costs (evaluations, time, memory), not
image quality. Each run is its own process; memory is the peak anonymous resident set. The window methods are slow
on two cores (MultiDiffusion at 4096² evaluates 6,498 windows a step), so beyond the sizes in `MEASURED` their
evaluations are counted exactly (diffusers' own `get_views`, the windows of `sliding_window_sample`) and their time
extrapolated from the seconds per evaluation measured at the largest measured size, marked `extrapolated`. Writes
benchmarks/results/sampler_vs_peers.json. Run: python benchmarks/sampler_vs_peers.py [--quick]
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from slide_memory import PeakAnon
from scaling import layout_of

PATCH, STRIDE, STEPS, OMEGA = 64, 8, 1, 2.
DEVICE = os.environ.get('DEVICE', 'cpu')           # DEVICE=cuda: every method on the GPU (benchmarks/gpu_check.py), results beside the CPU ones
MEASURED = {'random patch': (128, 256, 512), 'random patch, paper placement': (128, 256, 512), 'original': (128, 256, 512), 'panorama (diffusers)': (128, 256),
            'panorama rule, our U-Net': (128,)}   # the other window runs are extrapolated (below)

def ours(n, method):
    import torch
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
    from diffinfinite_nb.sampling import random_patch_sample, sliding_window_sample
    from diffinfinite_nb.schedule import inference_scheduler
    from diffinfinite_nb.core import make_generator
    torch.manual_seed(0); net = randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval().to(DEVICE)
    lay = layout_of(n)
    inference_scheduler(None, STEPS)                      # first use imports diffusers' schedulers: not part of the timing
    with torch.no_grad(): net(torch.randn(2, 4, PATCH, PATCH, device=DEVICE), torch.tensor([1, 1]), torch.tensor([1, 1]), torch.ones(2, PATCH, PATCH, device=DEVICE))
    if method.startswith('random patch'):
        placement = 'random' if method.endswith('paper placement') else 'grid'
        return lambda: random_patch_sample(net, lay, STEPS, OMEGA, PATCH, generator=make_generator(0), crop_batch_size=16,
                                           placement=placement, progress=False)[1].nfe
    if method == 'panorama rule, our U-Net':
        return lambda: sliding_window_sample(net, lay, STEPS, OMEGA, PATCH, stride=STRIDE, generator=make_generator(0), crop_batch_size=16,
                                             progress=False)[1].nfe
    return lambda: original(net, lay, n)

def original(net, lay, n):
    "The original procedure: crop by crop, each label present evaluated conditionally and unconditionally (a batch of two)."
    import torch
    from diffinfinite_nb.sampling import choose_crops
    from diffinfinite_nb.schedule import inference_scheduler, cfg_combine
    from diffinfinite_nb.core import make_generator
    g, sched, nfe = make_generator(0), inference_scheduler(None, STEPS), 0
    x = torch.randn((1, 4, n, n), generator=g).to(DEVICE)
    lay = lay.to(DEVICE)
    with torch.no_grad():
        for t in sched.timesteps:
            new, written = x.clone(), torch.zeros(n, n, dtype=torch.bool, device=DEVICE)
            for y, x0 in choose_crops(n, n, PATCH, PATCH, g):
                lc, xc = lay[y:y + PATCH, x0:x0 + PATCH], x[..., y:y + PATCH, x0:x0 + PATCH]
                eps = torch.zeros_like(xc)
                for c in [int(v) for v in lc.unique()]:        # every label present, unknown (0) included
                    m = (lc == c).float()[None]
                    e = net(torch.cat([xc, xc]), t.expand(2).to(DEVICE), torch.tensor([net.null_label, c if c else net.null_label], device=DEVICE),
                            torch.cat([torch.zeros_like(m), m]))
                    nfe += 2
                    eps = torch.where(m.bool(), cfg_combine(e[:1], e[1:], OMEGA), eps)
                upd = sched.step(eps, t, xc).prev_sample
                free = ~written[y:y + PATCH, x0:x0 + PATCH]
                new[..., y:y + PATCH, x0:x0 + PATCH] = torch.where(free, upd, new[..., y:y + PATCH, x0:x0 + PATCH])
                written[y:y + PATCH, x0:x0 + PATCH] = True
            x = new
    return nfe

def panorama(n):
    "diffusers' StableDiffusionPanoramaPipeline with tiny components; counts U-Net evaluations (batch rows)."
    import torch
    from diffusers import StableDiffusionPanoramaPipeline, UNet2DConditionModel, AutoencoderKL, DDIMScheduler
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=PATCH, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                                down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'), up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'),
                                cross_attention_dim=32, attention_head_dim=4, norm_num_groups=4).eval()
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=('DownEncoderBlock2D',)*4, up_block_types=('UpDecoderBlock2D',)*4,
                        latent_channels=4, norm_num_groups=4, layers_per_block=1)
    pipe = StableDiffusionPanoramaPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=DDIMScheduler(),
                                           safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = pipe.to(DEVICE); pipe.set_progress_bar_config(disable=True)
    rows = [0]
    unet.register_forward_pre_hook(lambda m, a: rows.__setitem__(0, rows[0] + a[0].shape[0]))
    emb = torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(0))
    emb = emb.to(DEVICE)
    with torch.no_grad(): unet(torch.randn(2, 4, PATCH, PATCH, device=DEVICE), torch.tensor([1, 1], device=DEVICE), encoder_hidden_states=torch.cat([emb, emb]))   # warm-up
    rows[0] = 0
    def go():
        pipe(prompt_embeds=emb, negative_prompt_embeds=torch.zeros_like(emb), height=8*n, width=8*n, num_inference_steps=STEPS,
             guidance_scale=OMEGA, view_batch_size=16, output_type='latent', generator=torch.Generator().manual_seed(0))
        return rows[0]
    return go

def one(method, n):
    import torch
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    go = panorama(n) if method == 'panorama (diffusers)' else ours(n, method)      # models built and warmed up, untimed
    with PeakAnon() as pk:
        t0 = time.time(); nfe = go()
        if DEVICE.startswith('cuda'): torch.cuda.synchronize()
        dt = time.time() - t0
    return dict(method=method, latent=n, image=8*n, nfe=nfe, nfe_per_step=nfe/STEPS, seconds=dt, peak_anon_mib=pk.peak)

METHODS = ['random patch', 'random patch, paper placement', 'original', 'panorama (diffusers)', 'panorama rule, our U-Net']

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--one', nargs=2); ap.add_argument('--quick', action='store_true')
    ap.add_argument('--sizes', type=int, nargs='+', help='latent sizes (default 128 256 512; --quick: 128)')
    a = ap.parse_args()
    if a.one: print(json.dumps(one(a.one[0], int(a.one[1])))); sys.exit()
    t_all, rows = time.time(), []
    for n in (a.sizes or ([128] if a.quick else [128, 256, 512])):
        for m in METHODS:
            if n not in MEASURED[m]:
                prev = next((r for r in rows[::-1] if r['method'] == m), None)
                if prev is None: continue                   # nothing measured to extrapolate from (--sizes)
                if m == 'panorama (diffusers)':
                    from diffusers import StableDiffusionPanoramaPipeline
                    nfe = 2*STEPS*len(StableDiffusionPanoramaPipeline.get_views(None, 8*n, 8*n, window_size=PATCH, stride=STRIDE))
                else:
                    from diffinfinite_nb.sampling import nfe_per_step
                    from diffinfinite_nb.data import tile_coords
                    win = [(y, x) for y in sorted({c[0] for c in tile_coords(n, n, PATCH, STRIDE)}) for x in sorted({c[1] for c in tile_coords(n, n, PATCH, STRIDE)})]
                    nfe = STEPS*nfe_per_step(layout_of(n), win, PATCH, OMEGA)
                rows.append(dict(method=m, latent=n, image=8*n, nfe=nfe, nfe_per_step=nfe/STEPS, seconds=prev['seconds']/prev['nfe']*nfe,
                                 peak_anon_mib=float('nan'), extrapolated=True))
            else:
                r = subprocess.run([sys.executable, __file__, '--one', m, str(n)], capture_output=True, text=True, timeout=1200)
                if r.returncode: sys.exit(r.stderr[-3000:])
                rows.append(dict(json.loads(r.stdout.strip().splitlines()[-1]), extrapolated=False))
            x = rows[-1]
            print(f"{x['image']:>5}² {m:>30}: NFE/step {x['nfe_per_step']:>8.0f}  {x['seconds']:>7.1f} s  peak {x['peak_anon_mib']:>5.0f} MiB"
                  + ('  (extrapolated)' if x['extrapolated'] else ''), flush=True)
    print(f"\n{'image':>6} {'method':>30} {'NFE/step':>9} {'time':>8} {'peak mem':>9} {'NFE ratio':>10} {'time ratio':>11}")
    for r in rows:
        base = next(b for b in rows if b['latent'] == r['latent'] and b['method'] == 'random patch')
        r['nfe_ratio'], r['time_ratio'] = r['nfe']/base['nfe'], r['seconds']/base['seconds']
        print(f"{r['image']:>5}² {r['method']:>30} {r['nfe_per_step']:>9.0f} {r['seconds']:>6.1f} s {r['peak_anon_mib']:>5.0f} MiB "
              f"{r['nfe_ratio']:>9.1f}x {r['time_ratio']:>10.1f}x" + ('  extrapolated' if r['extrapolated'] else ''))
    res = dict(machine=dict(cpu=platform.machine(), threads=os.cpu_count(), device=DEVICE), steps=STEPS, patch=PATCH, stride=STRIDE, guidance=OMEGA,
               rows=rows, seconds=round(time.time() - t_all))
    name = 'sampler_vs_peers' + ('_quick' if a.quick else '') + ('' if DEVICE == 'cpu' else f'_{DEVICE.split(":")[0]}')
    out = HERE/'results'/f'{name}.json'; out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"\n{out.name} written ({res['seconds']} s); ratios are to the random-patch sampler (default placement) at the same size")
