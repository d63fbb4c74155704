"""One image across processes: Alg. 2 on a 4096² output (512² latent, tiny random U-Net, patch 16, one DDIM step) by
one process and by two gloo processes under torchrun (one thread each, each step's batches shared round-robin and
all-gathered), the speed-up, and what a 100k² slide asks: evaluations per step and the evaluations per second needed
to sample it in an hour or a day. Writes benchmarks/results/multiprocess.json.
Run: python benchmarks/multiprocess.py
"""
import json, os, platform, subprocess, sys, tempfile
from pathlib import Path

HERE = Path(__file__).parent
N, PATCH, BATCH, STEPS = 512, 16, 64, 1

WORKER = '''
import json, os, sys, time, torch
sys.path.insert(0, {here!r})
from scaling import layout_of
from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
from diffinfinite_nb.sampling import random_patch_sample
from diffinfinite_nb.core import make_generator
torch.set_num_threads(1)
group, rank = None, 0
if 'WORLD_SIZE' in os.environ:
    import torch.distributed as dist
    dist.init_process_group('gloo'); group, rank = dist.group.WORLD, dist.get_rank()
torch.manual_seed(0); net = randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval()
lay = layout_of({n})
t0 = time.time()
x, info = random_patch_sample(net, lay, {steps}, 2., {patch}, generator=make_generator(0), crop_batch_size={batch}, group=group, progress=False)
dt = time.time() - t0
if rank == 0:
    torch.save(x, sys.argv[1])
    print(json.dumps(dict(seconds=dt, nfe=info.nfe)))
'''

def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

if __name__ == '__main__':
    import torch
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
    out = HERE/'results'/'multiprocess.json'; out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(res, indent=1))
    print(f"{out.name} written")
