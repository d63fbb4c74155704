"Command-line training: an interrupted run resumes identically, and a 2-process CPU run under `accelerate launch` (gloo)."
import os, shutil, subprocess, sys, torch

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
ARGS = ['--data', 'synthetic', '--batch_size', '2', '--base_channels', '8', '--ckpt_every', '0']

def _run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r

def _ck(d): return torch.load(d/'checkpoint.pt', weights_only=False)

def test_cli_interrupted_run_resumes_identically(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    _run(['diffinfinite_train', '--steps', '5', '--out', str(a), *ARGS])
    _run(['diffinfinite_train', '--steps', '5', '--stop_at', '3', '--out', str(b), *ARGS])
    assert _ck(b)['step'] == 3
    _run(['diffinfinite_train', '--steps', '5', '--out', str(b), *ARGS])               # same command again: resumes
    assert _ck(b)['step'] == 5, _ck(b)['step']
    assert _ck(b)['losses'] == _ck(a)['losses'], (_ck(b)['losses'], _ck(a)['losses'])
    for f in ('diffinfinite.json', 'unet/diffusion_pytorch_model.safetensors', 'scheduler/scheduler_config.json'):
        assert (b/'model'/f).exists(), f

def test_accelerate_two_cpu_processes_hold_identical_weights(tmp_path):
    _run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
          '--mixed_precision', 'no', '--dynamo_backend', 'no',
          shutil.which('diffinfinite_train'), '--steps', '2', '--out', str(tmp_path), *ARGS])
    sums = [(tmp_path/f'weights_rank{r}.sha256').read_text() for r in (0, 1)]
    assert sums[0] == sums[1], sums                # different batches per rank, all-reduced gradients: same weights
    assert _ck(tmp_path)['step'] == 2, _ck(tmp_path)['step']

def test_resumed_two_process_run_equals_an_uninterrupted_one(tmp_path):
    "Each process's random streams are checkpointed: a 2-process run stopped and resumed gives the uninterrupted run's losses and weights."
    a, b = tmp_path/'a', tmp_path/'b'
    launch = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
              '--mixed_precision', 'no', '--dynamo_backend', 'no', shutil.which('diffinfinite_train'), '--steps', '4', *ARGS]
    _run([*launch, '--out', str(a)])
    _run([*launch, '--out', str(b), '--stop_at', '2'])
    assert _ck(b)['step'] == 2 and len(_ck(b)['rng']) == 2          # both processes' streams
    _run([*launch, '--out', str(b)])
    assert _ck(b)['losses'] == _ck(a)['losses'], (_ck(b)['losses'], _ck(a)['losses'])
    assert (b/'weights_rank0.sha256').read_text() == (a/'weights_rank0.sha256').read_text()

PREAMBLE = '''
import os, sys, json, torch
from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
from diffinfinite_nb.sampling import random_patch_sample, state_buffers, banded_patch_sample, gather_bands
from diffinfinite_nb.core import make_generator
torch.set_num_threads(1)
group, rank = None, 0
if 'WORLD_SIZE' in os.environ:
    import torch.distributed as dist
    dist.init_process_group('gloo'); group, rank = dist.group.WORLD, dist.get_rank()
torch.manual_seed(0); net = randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval()
'''

SCRIPT = PREAMBLE + '''
lay = torch.zeros(40, 56, dtype=torch.long); lay[:, 20:] = 1; lay[24:, :28] = 3
state = state_buffers(sys.argv[2] + f'/state{rank}', (1, 4, 40, 56)) if sys.argv[3] == 'memmap' else None
x, info = random_patch_sample(net, lay, patch=8, num_inference_steps=3, guidance_scale=2., generator=make_generator(0),
                              crop_batch_size=5, state=state, group=group, progress=False)
torch.save(x.clone(), sys.argv[2] + f'/{sys.argv[1]}_rank{rank}.pt')
'''

def test_two_processes_sample_exactly_the_single_process_latent(tmp_path):
    "Alg. 2 with each step's batches shared by 2 gloo processes gives the single-process latent bit for bit (also from memory maps)."
    script = tmp_path/'sample.py'; script.write_text(SCRIPT)
    _run([sys.executable, str(script), 'single', str(tmp_path), 'ram'])
    _run([sys.executable, str(script), 'mapped', str(tmp_path), 'memmap'])
    _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script), 'two', str(tmp_path), 'ram'])
    ref = torch.load(tmp_path/'single_rank0.pt')
    assert torch.isfinite(ref).all() and ref.std() > 0
    for name in ('mapped_rank0', 'two_rank0', 'two_rank1'):
        assert torch.equal(torch.load(tmp_path/f'{name}.pt'), ref), name

def test_diffinfinite_sample_under_torchrun_writes_the_single_process_files(tmp_path):
    "2 and 3 processes sample, decode their own bands (24 latent rows of halo: wider than a band) and stream them to the writer: the same files."
    import tifffile
    args = ['--size', '256x192', '--steps', '2', '--mask-steps', '2', '--device', 'cpu']
    _run(['diffinfinite', 'sample', '--out', str(tmp_path/'one.tif'), *args])
    for n in (2, 3):
        _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(n), shutil.which('diffinfinite'),
              'sample', '--out', str(tmp_path/f'n{n}.tif'), *args])
        for a, b in (('one.tif', f'n{n}.tif'), ('one_mask.tif', f'n{n}_mask.tif')):
            assert (tifffile.imread(tmp_path/a) == tifffile.imread(tmp_path/b)).all(), (n, a)

BANDED = PREAMBLE + '''
lay = torch.zeros(43, 56, dtype=torch.long); lay[:, 20:] = 1; lay[24:, :28] = 3      # 43 rows: bands of unequal height
band, rows, info = banded_patch_sample(net, lay, patch=8, num_inference_steps=3, guidance_scale=2., eta=float(sys.argv[3]),
                                       generator=make_generator(0), crop_batch_size=5, group=group, progress=False)
x = gather_bands(band, rows, 43, group)
json.dump(dict(rows=rows, state=2*band.numel()*4, sent=info.bytes_sent), open(sys.argv[2] + f'/{sys.argv[1]}_rank{rank}.json', 'w'))
if rank == 0: torch.save(x.clone(), sys.argv[2] + f'/{sys.argv[1]}.pt')
if group is not None: dist.barrier(); dist.destroy_process_group()      # close the group before exit
'''

def test_banded_sampling_is_bit_identical_across_2_and_3_processes(tmp_path):
    "Each process holds its band of rows plus a one-crop halo; 2, 3 and 6 (one idle) gloo processes give one process's latent bit for bit."
    import json
    script = tmp_path/'banded.py'; script.write_text(BANDED)
    for eta, worlds in (('0', (2, 3)), ('1', (3,))):                      # eta 1: the DDIM noise drawn band by band too
        _run([sys.executable, str(script), f'one{eta}', str(tmp_path), eta])
        one = torch.load(tmp_path/f'one{eta}.pt')
        for n in worlds:
            _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(n), str(script),
                  f'w{n}e{eta}', str(tmp_path), eta])
            got = torch.load(tmp_path/f'w{n}e{eta}.pt')
            assert got.shape == one.shape == (1, 4, 43, 56) and torch.equal(got, one), (n, eta, (got - one).abs().max())
            meta = [json.loads((tmp_path/f'w{n}e{eta}_rank{r}.json').read_text()) for r in range(n)]
            assert [m['rows'] for m in meta] == [[r*43//n, (r + 1)*43//n] for r in range(n)]
            assert all(m['state'] < 2*4*43*56*4*(1/n + 0.25) for m in meta), meta        # band + an 8-row halo of 43 rows
            assert all(m['sent'] > 0 for m in meta)
    _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '6', str(script), 'six', str(tmp_path), '0'])
    assert torch.equal(torch.load(tmp_path/'six.pt'), torch.load(tmp_path/'one0.pt'))            # 5 bands of >= 8 rows; the 6th process idles
    assert json.loads((tmp_path/'six_rank5.json').read_text())['rows'] == [43, 43]

def test_processes_given_different_arguments_stop_at_the_start(tmp_path):
    script = tmp_path/'mismatch.py'
    script.write_text("import os, sys\nfrom diffinfinite_nb.cli import main\n"
                      f"sys.exit(main(['sample', '--size', '64', '--steps', '1', '--mask-steps', '1', '--out', {str(tmp_path/'s.tif')!r}, "
                      "'--seed', os.environ['RANK']]))\n")
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script)],
                       capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode != 0 and 'process 1 was started with other arguments than process 0' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'s.tif').exists()
