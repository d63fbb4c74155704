"Faults and bad input: a full disk, non-finite numbers, impossible sizes and wrong kinds of data end in one clear line and leave nothing behind."
import contextlib, errno, io, os, subprocess, tempfile, time
from pathlib import Path
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from diffinfinite_nb.cli import main

def _main(*argv):
    "`(status, stderr)` of the `diffinfinite` command run in this process."
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: status = main([str(a) for a in argv])
        except SystemExit as e: status = e.code                         # argparse: usage errors exit 2
    return status, err.getvalue()

def _files(d): return sorted(p.name for p in Path(d).iterdir())

@contextlib.contextmanager
def _small_disk(tmp_path, size='2m'):
    "A tiny tmpfs where the test runs as root and may mount; else a folder whose file system reports ENOSPC to fallocate."
    d = tmp_path/'disk'; d.mkdir()
    if os.geteuid() == 0 and subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(d)], capture_output=True).returncode == 0:
        try: yield d, True
        finally: subprocess.run(['umount', '-l', str(d)], capture_output=True)
    else:
        real = os.posix_fallocate
        def full(fd, off, n): raise OSError(errno.ENOSPC, 'No space left on device')
        os.posix_fallocate = full
        try: yield d, False
        finally: os.posix_fallocate = real

def test_a_full_disk_is_refused_up_front_with_the_numbers(tmp_path):
    with _small_disk(tmp_path) as (d, real_fs):
        if not real_fs: pytest.skip('cannot mount a tmpfs here; the reservation test below mocks the full disk')
        status, err = _main('sample', '--size', 1024, '--out', d/'s.tif', '--steps', 1, '--mask-steps', 1)
        assert status == 1 and len(err.strip().splitlines()) == 1, err
        assert 'a 1024x1024 px slide' in err and 'of disk in' in err and 'is free' in err, err
        assert _files(d) == []

def test_a_full_disk_during_the_run_is_an_error_not_sigbus(tmp_path, monkeypatch):
    "Past the estimate (another process filled the disk): the memory maps' reserved space fails as an OSError, temporaries removed."
    import diffinfinite_nb.cli as cli
    monkeypatch.setattr(cli, 'plan_sample', lambda *a, **k: {})
    with _small_disk(tmp_path) as (d, _):
        status, err = _main('sample', '--size', 1024, '--out', d/'s.tif', '--steps', 1, '--mask-steps', 1)
        assert status == 1 and len(err.strip().splitlines()) == 1, err
        assert 'No space left on device' in err and 'image.npy' in err, err
        assert _files(d) == []

def test_a_killed_runs_temporaries_are_removed(tmp_path):
    (tmp_path/'.s.tif.k1ll3d').mkdir(); (tmp_path/'.s.tif.k1ll3d'/'image.npy').write_bytes(b'0'*100)
    (tmp_path/'.s_mask.tif.abc.tmp').write_bytes(b'half')
    status, err = _main('sample', '--size', 64, '--out', tmp_path/'s.tif', '--steps', 1, '--mask-steps', 1)
    assert status == 0, err
    assert 'removed 2 temporaries' in err, err
    assert _files(tmp_path) == ['s.geojson', 's.tif', 's_classes.json', 's_mask.tif', 's_preview.png']

@pytest.mark.parametrize('argv,says', [
    (['sample', '--size', 64, '--guidance', 'nan'], '--guidance must be a finite number from 0 to 100, got nan'),
    (['sample', '--size', 64, '--guidance', 'inf'], '--guidance must be a finite number'),
    (['sample', '--size', 64, '--steps', 0], '--steps must be a whole number from 1 to 10000, got 0'),
    (['sample', '--size', 64, '--crop-batch-size', -1], '--crop-batch-size must be a whole number from 1'),
    (['sample', '--size', 64, '--mpp', 0], '--mpp must be a finite number from 0.01 to 100'),
    (['sample', '--size', 60], 'the image size 60x60 px must be a multiple of the autoencoder factor 8 px: try 64x64'),
    (['sample', '--size', '100000000'], 'a 100000000x100000000 px slide'),
    (['train', '--lr', 'nan'], '--lr must be a finite number'),
    (['train', '--p-unc', 1.5], '--p-unc must be a finite number from 0 to 1, got 1.5'),
    (['train', '--batch-size', 0], '--batch-size must be a whole number from 1'),
    (['cache', 'wsss4luad', '--out', 'c.safetensors', '--size', 100], '--size must be a multiple of 8 px'),
    (['cache', 'wsss4luad', '--out', 'c.safetensors', '--min-tissue', 2], '--min-tissue must be a finite number from 0 to 1'),
])
def test_numbers_out_of_range_are_one_line(tmp_path, argv, says):
    argv = [a if a != 'c.safetensors' else tmp_path/a for a in argv]
    if argv[0] == 'sample': argv += ['--out', tmp_path/'s.tif']
    if argv[0] == 'train': argv += ['--out', tmp_path/'run']
    status, err = _main(*argv)
    assert status == 1 and says in err and len(err.strip().splitlines()) == 1, err
    assert _files(tmp_path) == []

def test_data_is_identified_by_kind(tmp_path):
    (tmp_path/'notes.txt').write_text('not data'); (tmp_path/'empty').mkdir()
    (tmp_path/'fake.safetensors').write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1}       ')
    from safetensors.numpy import save_file
    save_file({'w': np.zeros(3, np.float32)}, str(tmp_path/'weights.safetensors'))
    for argv, says in [(['train', '--data', tmp_path/'notes.txt'], 'notes.txt is a .txt file: not a latent cache'),
                       (['train', '--data', tmp_path/'empty'], 'is an empty folder'),
                       (['train', '--data', tmp_path/'fake.safetensors'], 'fake.safetensors'),
                       (['train', '--data', tmp_path/'weights.safetensors'], 'is a safetensors file but not a latent cache'),
                       (['train', '--data', 'ebhi'], "is a named data set; `train --kind image` takes 'synthetic', a latent cache"),
                       (['train', '--kind', 'mask', '--data', 'synthetic'], '`train --kind mask` takes wsss4luad or ebhi'),
                       (['cache', tmp_path/'missing', '--out', tmp_path/'c.safetensors'], 'missing not found')]:
        status, err = _main(*argv, *(['--out', tmp_path/'run'] if argv[0] == 'train' else []))
        assert status == 1 and says in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert _files(tmp_path) == ['empty', 'fake.safetensors', 'notes.txt', 'weights.safetensors']

# a bounded fuzz of the command line: random flags, good (cheap) and bad values, for every subcommand
_NUM = st.sampled_from(['0', '-1', '1', '2', '1e999', 'nan', '-inf', '0.5', 'x', '', '99999999999', '3.7'])
_FLAGS = {
    'sample': {'--size': st.sampled_from(['64', '60', '0', '-64', '8', '64x32', 'x64', 'abc', '1e3', '99999999']),
               '--steps': st.sampled_from(['1', '2', '0', '-3', 'nan', '2.5']), '--mask-steps': st.sampled_from(['1', '0', 'inf']),
               '--guidance': _NUM, '--patch': _NUM, '--crop-batch-size': _NUM, '--mpp': _NUM, '--decode-batch-size': _NUM,
               '--seed': _NUM, '--placement': st.sampled_from(['grid', 'random', 'diagonal']), '--dtype': st.sampled_from(['fp32', 'bf16', 'half']),
               '--context': st.sampled_from(['1', 'LUAD', '99', 'nothing']), '--layout': st.sampled_from(['missing.png', 'notes.txt'])},
    'train': {'--steps': st.sampled_from(['1', '0', '-1', 'nan']), '--lr': _NUM, '--p-unc': _NUM, '--batch-size': _NUM,
              '--ckpt-every': _NUM, '--base-channels': st.sampled_from(['8', '0', '-8', 'x']), '--mpp': _NUM, '--size': _NUM,
              '--data': st.sampled_from(['synthetic', 'notes.txt', 'missing', 'ebhi', '.']), '--kind': st.sampled_from(['image', 'mask', 'both']),
              '--mixed-precision': st.sampled_from(['no', 'bf16', 'fp8']), '--config': st.sampled_from(['tiny', 'nope'])},
    'cache': {'--size': _NUM, '--crops': _NUM, '--mpp': _NUM, '--min-tissue': _NUM, '--autoencoder': st.sampled_from(['taef2', 'vqgan']),
              '--class-map': st.sampled_from(['Tumor=carcinoma', 'broken', '=']), '--dtype': st.sampled_from(['fp16', 'x'])},
    'evaluate': {'--size': _NUM, '--device': st.sampled_from(['cpu', 'tpu', 'cuda:9'])},
    'info': {},
}

@st.composite
def _command(draw):
    cmd = draw(st.sampled_from(sorted(_FLAGS)))
    flags = _FLAGS[cmd]
    chosen = draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True)) if flags else []
    argv = [cmd] + [x for f in chosen for x in (f, draw(flags[f]))]
    if cmd == 'train' and '--steps' not in chosen: argv += ['--steps', draw(st.sampled_from(['0', '-1', 'nan']))]   # never a long run
    if cmd == 'sample' and '--size' not in chosen and '--layout' not in chosen: argv += ['--size', draw(st.sampled_from(['60', '64', '-8']))]
    if cmd == 'cache': argv.insert(1, draw(st.sampled_from(['notes.txt', 'missing', 'synthetic', '.'])))
    if cmd == 'evaluate': argv[1:1] = [draw(st.sampled_from(['missing', 'empty'])), draw(st.sampled_from(['missing', 'empty']))]
    if cmd == 'info': argv += draw(st.sampled_from([[], ['missing'], ['empty']]))
    return argv

_T0 = []

@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(argv=_command())
def test_command_line_fuzz(argv):
    "Exit status 0, 1 or 2 only, no traceback, and nothing beside the inputs unless the run succeeded (60 s at most)."
    _T0.append(_T0[0] if _T0 else time.time())
    if time.time() - _T0[0] > 60: return                               # the CI budget: later examples pass untried
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); (d/'notes.txt').write_text('not data'); (d/'empty').mkdir()
        before = _files(d)
        cwd = os.getcwd(); os.chdir(d)
        try:
            out = ['--out', 's.tif'] if argv[0] == 'sample' else ['--out', 'run'] if argv[0] == 'train' else ['--out', 'c.safetensors'] if argv[0] == 'cache' else []
            status, err = _main(*argv, *out)
        finally: os.chdir(cwd)
        assert status in (0, 1, 2), (argv, status, err)
        assert 'Traceback' not in err, (argv, err)
        if status != 0: assert _files(d) == before, (argv, _files(d), err)
