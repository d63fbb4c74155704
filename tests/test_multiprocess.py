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
