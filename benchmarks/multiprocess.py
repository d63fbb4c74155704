"""One image across processes: Alg. 2 on a 4096² output (512² latent, tiny random U-Net, patch 16, one DDIM step) by
one process and by two gloo processes under torchrun (one thread each, each step's batches shared round-robin and
all-gathered), the speed-up, and what a 100k² slide asks: evaluations per step and the evaluations per second needed
to sample it in an hour or a day. Then the banded sampler (`banded_patch_sample`: each process holds its band of rows
plus a one-crop halo and exchanges halos with its neighbours) with 1, 2 and 4 processes at 4096² and 8192²: wall
time, state and peak memory per process, bytes sent per process per step, bit-identity with one process, and a model
of a 100k² slide on 8 GPUs from the measured counts and bytes. Last, decoding by bands: a random TAEF2 latent decoded by 1, 2 and 4 processes, each its own band of rows (with the
rows its tiles reach, from its neighbours) streamed to the first process's memory-mapped image: wall time, how much
each process's memory grew while decoding, bit-identity with one process.
Writes benchmarks/results/multiprocess.json.
Run: python benchmarks/multiprocess.py   (python benchmarks/multiprocess.py decode: only the decoding part, merged into the JSON)
"""
import json, os, platform, subprocess, sys, tempfile
from pathlib import Path

HERE = Path(__file__).parent
N, PATCH, BATCH, STEPS = 512, 16, 64, 1

PREAMBLE = '''
import json, os, resource, sys, time, torch
sys.path.insert(0, {here!r})
from scaling import layout_of
from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
from diffinfinite_nb.sampling import random_patch_sample, banded_patch_sample
from diffinfinite_nb.core import make_generator
torch.set_num_threads(1)
group, rank = None, 0
if 'WORLD_SIZE' in os.environ:
    import torch.distributed as dist
    dist.init_process_group('gloo'); group, rank = dist.group.WORLD, dist.get_rank()
torch.manual_seed(0); net = randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval()
'''

BANDED_WORKER = PREAMBLE + '''
lay = layout_of(int(sys.argv[2]))
t0 = time.time()
band, rows, info = banded_patch_sample(net, lay, {steps}, 2., {patch}, generator=make_generator(0), crop_batch_size={batch}, group=group, progress=False)
dt = time.time() - t0
torch.save(band.clone(), sys.argv[1] + f'_rank{{rank}}.pt')
open(sys.argv[1] + f'_rank{{rank}}.json', 'w').write(json.dumps(dict(rank=rank, seconds=dt, nfe=info.nfe, rows=rows, state=2*band.numel()*4 + 2*4*band.shape[1]*{patch}*band.shape[3],
                      peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024, sent_per_step=info.bytes_sent/{steps})))
if group is not None: dist.barrier(); dist.destroy_process_group()
'''

WORKER = PREAMBLE + '''
lay = layout_of({n})
t0 = time.time()
x, info = random_patch_sample(net, lay, {steps}, 2., {patch}, generator=make_generator(0), crop_batch_size={batch}, group=group, progress=False)
dt = time.time() - t0
if rank == 0:
    torch.save(x, sys.argv[1])
    print(json.dumps(dict(seconds=dt, nfe=info.nfe)))
if group is not None: dist.barrier(); dist.destroy_process_group()
'''

def run(cmd, all_lines=False):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    if r.returncode: sys.exit(r.stderr[-3000:])
    lines = [json.loads(l) for l in r.stdout.strip().splitlines() if l.startswith('{')]
    return lines if all_lines else lines[-1]

BANDED_SIZES, WORLDS, BANDED_STEPS = (512, 1024), (1, 2, 4), 2
DECODE_LATENT, DECODE_TILE = 192, 32          # a 1536² image from a 192² TAEF2 latent

DECODE_WORKER = '''
import json, os, resource, sys, time, numpy as np, psutil, torch
from diffinfinite_nb.autoencoder import TAEF2
from diffinfinite_nb.decoding import decode_tiled
from diffinfinite_nb.sampling import band_window, gather_image_bands
torch.set_num_threads(1)
group, rank, world = None, 0, 1
if 'WORLD_SIZE' in os.environ:
    import torch.distributed as dist
    dist.init_process_group('gloo'); group, rank, world = dist.group.WORLD, dist.get_rank(), dist.get_world_size()
tae, h = TAEF2.from_pretrained(), {n}
z = torch.randn(1, 32, h, h, generator=torch.Generator().manual_seed(0))
a, b = rank*h//world, (rank + 1)*h//world
band = z[:, :, a:b].clone(); del z                    # what a process holds after banded sampling: its band
rss0 = psutil.Process().memory_info().rss
t0 = time.time()
win, lo = band_window(band, (a, b), h, {tile}, group)
part = decode_tiled(tae.decode, win[0], tile={tile}, factor=8, rows=(a, b), offset=lo, height=h, progress=False)
out = np.lib.format.open_memmap(sys.argv[1] + '.npy', mode='w+', dtype=np.uint8, shape=(8*h, 8*h, 3)) if rank == 0 else None
gather_image_bands(part, (a, b), 8, out, group)
if out is not None: out.flush()
dt = time.time() - t0
open(sys.argv[1] + f'_rank{{rank}}.json', 'w').write(json.dumps(dict(seconds=dt, grew=psutil.Process().memory_info().rss - rss0,
                                                               peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024)))
if group is not None: dist.barrier(); dist.destroy_process_group()
'''

def decode_bands(d):
    "Hann decoding by bands with 1, 2 and 4 processes; rows of the results table."
    import numpy as np
    script = Path(d)/'decode.py'
    script.write_text(DECODE_WORKER.format(n=DECODE_LATENT, tile=DECODE_TILE))
    rows, ref = [], None
    for world in WORLDS:
        cmd = [sys.executable, str(script), f'{d}/d{world}']
        if world > 1: cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(world)] + cmd[1:]
        run(cmd, all_lines=True)
        ranks = [json.loads(Path(f'{d}/d{world}_rank{r}.json').read_text()) for r in range(world)]
        img = np.load(f'{d}/d{world}.npy', mmap_mode='r')
        ref = np.array(img) if ref is None else ref
        rows.append(dict(image=8*DECODE_LATENT, processes=world, seconds=round(max(r['seconds'] for r in ranks), 2),
                         memory_growth_per_process=max(r['grew'] for r in ranks), image_bytes=int(ref.nbytes),
                         bit_identical=bool(np.array_equal(img, ref))))
        print(f"decoding {8*DECODE_LATENT}² by bands, {world} process(es): {rows[-1]['seconds']} s, memory growth per process "
              f"{rows[-1]['memory_growth_per_process']/1e6:.0f} MB (the image: {ref.nbytes/1e6:.0f} MB), bit-identical {rows[-1]['bit_identical']}")
    return rows
T_EVAL_GPU_MS = 1.0       # stated, not measured (no GPU lent): one evaluation of the bundled image U-Net on a 32² latent crop in bf16

def banded(d):
    "The banded sampler at each size and process count; rows of the results table."
    import torch
    script = Path(d)/'banded.py'
    script.write_text(BANDED_WORKER.format(here=str(HERE), steps=BANDED_STEPS, patch=PATCH, batch=BATCH))
    rows = []
    for n in BANDED_SIZES:
        ref = None
        for world in WORLDS:
            cmd = [sys.executable, str(script), f'{d}/b{n}w{world}', str(n)]
            if world > 1: cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(world)] + cmd[1:]
            run(cmd, all_lines=True)
            ranks = [json.loads(Path(f'{d}/b{n}w{world}_rank{r}.json').read_text()) for r in range(world)]
            full = torch.cat([torch.load(f'{d}/b{n}w{world}_rank{r}.pt') for r in range(world)], 2)
            ref = full if ref is None else ref
            one_state = 2*full.numel()*4
            rows.append(dict(image=8*n, latent=n, processes=world, seconds=round(max(r['seconds'] for r in ranks), 2),
                             nfe=sum(r['nfe'] for r in ranks), state_per_process=max(r['state'] for r in ranks),
                             state_share=round(max(r['state'] for r in ranks)/one_state, 3),
                             peak_rss_per_process=max(r['peak_rss'] for r in ranks),
                             sent_per_process_per_step=max(r['sent_per_step'] for r in ranks), bit_identical=bool(torch.equal(full, ref))))
            print(f"banded {8*n}², {world} process(es): {rows[-1]['seconds']} s, state/process {rows[-1]['state_share']} of one process's, "
                  f"sent {rows[-1]['sent_per_process_per_step']/1e6:.2f} MB/process/step, bit-identical {rows[-1]['bit_identical']}")
    return rows

def slide_model(rows, steps=50, gpus=8, channels=32, crop=32, link_gb_s=10.):
    "A 100k² slide on `gpus` GPUs from the measured evaluations per latent pixel and halo bytes per latent row width."
    side = 100_000//8
    one = [r for r in rows if r['processes'] == 1][-1]
    nfe_step = one['nfe']/BANDED_STEPS*(side/one['latent'])**2              # the tiny model's 4 channels: counts do not depend on them
    halo_bytes = 2*2*crop*side*channels*4                                    # two exchanges, a crop-high band of the width, float32
    compute_s = steps*nfe_step*T_EVAL_GPU_MS/1e3/gpus
    comm_s = steps*halo_bytes/(link_gb_s*1e9)
    return dict(gpus=gpus, steps=steps, nfe_per_step=round(nfe_step), t_eval_ms_assumed=T_EVAL_GPU_MS, compute_h=round(compute_s/3600, 2),
                halo_bytes_per_process_per_step=halo_bytes, comm_s=round(comm_s, 1), hours=round((compute_s + comm_s)/3600, 2),
                parallel_efficiency=round(compute_s/(compute_s + comm_s), 3),
                t_eval_ms_for_1_hour=round(3600*gpus*1e3/(steps*nfe_step) - comm_s*gpus*1e3/(steps*nfe_step), 3),
                state_per_gpu_gb=round(2*channels*4*side*(side/gpus + crop)/1e9, 1))

if __name__ == '__main__':
    import torch
    if sys.argv[1:] == ['decode']:
        out = HERE/'results'/'multiprocess.json'
        res = json.loads(out.read_text())
        with tempfile.TemporaryDirectory() as d: res['decode_bands'] = decode_bands(d)
        out.write_text(json.dumps(res, indent=1)); print(f"{out.name} updated"); sys.exit()
    with tempfile.TemporaryDirectory() as d:
        script = Path(d)/'worker.py'
        script.write_text(WORKER.format(here=str(HERE), n=N, steps=STEPS, patch=PATCH, batch=BATCH))
        one = run([sys.executable, str(script), f'{d}/one.pt'])
        two = run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script), f'{d}/two.pt'])
        same = torch.equal(torch.load(f'{d}/one.pt'), torch.load(f'{d}/two.pt'))
    evals_s = one['nfe']/one['seconds']
    side = 100_000//8                                     # a 100k² slide: a 12500² latent (8x autoencoder)
    nfe_step = one['nfe']/STEPS*(side/N)**2               # evaluations per step scale with the pixels (same layout statistics)
    need = {f'{h} h, 50 steps': 50*nfe_step/(h*3600) for h in (1, 24)}
    res = dict(machine=dict(cpu=platform.machine(), threads=os.cpu_count()), image=8*N, latent=N, patch=PATCH, steps=STEPS,
               one_process_s=round(one['seconds'], 2), two_processes_s=round(two['seconds'], 2),
               speedup=round(one['seconds']/two['seconds'], 2), bit_identical=same, nfe=one['nfe'],
               evals_per_s_one_process=round(evals_s, 1), slide_100k_nfe_per_step=round(nfe_step),
               evals_per_s_needed={k: round(v) for k, v in need.items()},
               processes_like_this_one_needed={k: round(v/evals_s, 1) for k, v in need.items()})
    print(f"{8*N}² output, {STEPS} step, NFE {one['nfe']}: 1 process {one['seconds']:.1f} s, 2 processes {two['seconds']:.1f} s "
          f"(speed-up {res['speedup']}x; latents bit-identical: {same})")
    print(f"a 100k² slide: {nfe_step:,.0f} evaluations per step; 50 steps in 1 h need {need['1 h, 50 steps']:,.0f} evaluations/s, "
          f"in 24 h {need['24 h, 50 steps']:,.0f}/s (this tiny model: {evals_s:,.0f}/s per CPU process)")
    with tempfile.TemporaryDirectory() as d: res['banded'] = banded(d)
    res['slide_100k_8_gpus'] = m = slide_model(res['banded'])
    print(f"a 100k² slide on 8 GPUs, banded: {m['nfe_per_step']:,} evaluations per step, {m['state_per_gpu_gb']} GB of state per GPU, "
          f"{m['halo_bytes_per_process_per_step']/1e6:.0f} MB of halo per GPU per step; at {m['t_eval_ms_assumed']} ms per evaluation "
          f"(assumed) {m['hours']} h, parallel efficiency {m['parallel_efficiency']}; under 1 h needs <= {m['t_eval_ms_for_1_hour']} ms per evaluation")
    with tempfile.TemporaryDirectory() as d: res['decode_bands'] = decode_bands(d)
    out = HERE/'results'/'multiprocess.json'; out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(res, indent=1))
    print(f"{out.name} written")
