"""Sampler settings of the bundled lung image model, scored (issue: tissue that looks real).

One trained model, several ways of sampling it: number of DDIM steps, guidance weight ω, DDIM η. Each setting
generates the evaluation notebook's 200 crops of 256² (Alg. 2 on one 32² latent crop, the layouts of 200 training
crops, one seed per crop) and scores them exactly as that notebook does: FID, KID, improved precision/recall, C_T
against the training crops with the held-out crops as floor, the spectral peak at the latent period (8 px) and the
layout agreement of the tissue classifier trained on real crops only (carcinoma, stroma, others, glass).

    python benchmarks/image_sampler.py [SETTING ...] [--threads 1] [--n 200]     # e.g. 10/2/0 25/2/0 (steps/ω/η)
    python benchmarks/image_sampler.py 10/2/0 --folder runs/candidate --out benchmarks/results/candidate.json   # another model

Rows are merged into benchmarks/results/image_sampler.json as each finishes (atomic writes); finished rows are kept.
"""
import argparse, json, time, platform
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent/'results'/'image_sampler.json'
PIX = ROOT/'nbs'/'runs'/'lung-pixel-classifier.pt'      # the evaluation notebook's tissue classifier (trained there if missing)
LUNG_IDS = [1, 3, 4, 5]
DEFAULT = ['10/2/0', '10/1/0', '10/3/0', '25/2/0', '10/2/1', '50/2/0']

def crops(recs, n, seed, size=256):
    "The evaluation notebook's crops: `n` random `size`² crops, one per image and seed, seeds from `seed`."
    from diffinfinite_nb.data import PatchDataset
    ds = [PatchDataset(recs, size, seed=seed + s, augment=False, validate=False) for s in range(n//len(recs) + 1)]
    return [d[i] for d in ds for i in range(len(d))][:n]

def u8(xs): return torch.stack([(x.clamp(0, 1)*255).round().to(torch.uint8) for x in xs])

def peak(xs):
    from diffinfinite_nb.decoding import spectral_seam_score
    return float(np.mean([spectral_seam_score(x.float().mean(0), 8) for x in xs]))

def save(out, key, row, meta):
    res = json.loads(out.read_text()) if out.exists() else {'rows': {}}
    res.update(meta); res['rows'][key] = row
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix('.tmp'); tmp.write_text(json.dumps(res, indent=1)); tmp.replace(out)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('settings', nargs='*', default=DEFAULT, help='steps/ω/η, e.g. 10/2/0')
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--n', type=int, default=200)
    ap.add_argument('--folder', help='image model folder to score (default: the bundled lung model)')
    ap.add_argument('--out', type=Path, help=f'results file (default {OUT.relative_to(ROOT)})')
    a = ap.parse_args()
    out = a.out or OUT
    torch.set_num_threads(a.threads)
    from diffinfinite_nb.core import make_generator
    from diffinfinite_nb.data import read_wsss4luad, stratified_split, dominant_class, PatchDataset
    from diffinfinite_nb.pipeline import load_model, layout_to_latent, BUNDLED_PIPELINE
    from diffinfinite_nb.sampling import random_patch_sample
    from diffinfinite_nb.evaluation import inception_features, feature_metrics, layout_agreement, PixelClassifier, fit_pixel_classifier
    m = load_model(a.folder or BUNDLED_PIPELINE/'image'); tae = m.load_autoencoder()
    train, test = stratified_split(read_wsss4luad(), key=dominant_class, test_frac=0.2, seed=0)
    tr_s, te_s, te_s2 = crops(train, a.n, 10), crops(test, a.n, 20), crops(test, a.n, 40)
    masks = torch.stack([s['mask'] for s in tr_s])
    f_tr, f_te, f_te2 = (inception_features(u8([s['image'] for s in x])) for x in (tr_s, te_s, te_s2))
    if PIX.exists(): pix = PixelClassifier(LUNG_IDS); pix.load_state_dict(torch.load(PIX)); pix.eval()
    else:
        pt = [PatchDataset(train, 128, seed=s, validate=False)[i] for s in range(8) for i in range(len(train))]
        pix = fit_pixel_classifier(torch.stack([s['image'] for s in pt]), torch.stack([s['mask'] for s in pt]), LUNG_IDS, steps=1500)
        PIX.parent.mkdir(exist_ok=True); torch.save(pix.state_dict(), PIX)
    real = feature_metrics(f_tr, f_te, f_te2, kid_subset_size=100, n_cells=3)
    a_real = layout_agreement(pix.predict, u8([s['image'] for s in te_s]), torch.stack([s['mask'] for s in te_s]), LUNG_IDS)
    meta = dict(model=str(a.folder or 'bundled'), machine=f"{platform.machine()} CPU, {a.threads} thread(s)", torch=torch.__version__, n=a.n,
                real_floor=dict(**{k: round(v, 4) for k, v in real.items()}, period_peak=round(peak([s['image'] for s in te_s]), 3),
                                layout_agreement=round(a_real['mean'], 3)))
    done = json.loads(out.read_text())['rows'] if out.exists() else {}
    for key in a.settings:
        if key in done and done[key].get('n') == a.n: print(f"{key}: kept"); continue
        steps, omega, eta = key.split('/'); steps, omega, eta = int(steps), float(omega), float(eta)
        t0, gen, nfe = time.time(), [], 0
        for i, s in enumerate(tr_s):
            lay = layout_to_latent(s['mask'], 8, m.classes, m.trained_ids)
            z, info = random_patch_sample(m.model, lay, num_inference_steps=steps, guidance_scale=omega, eta=eta, patch=m.sample_size,
                                          generator=make_generator(i), scheduler=m.scheduler_config, progress=False)
            gen.append(tae.decode(z)[0]); nfe += info.nfe
        minutes = (time.time() - t0)/60
        gen = u8(gen)
        r = feature_metrics(f_tr, inception_features(gen), f_te, kid_subset_size=100, n_cells=3)
        agr = layout_agreement(pix.predict, gen, masks, LUNG_IDS)
        row = dict(steps=steps, omega=omega, eta=eta, n=a.n, minutes=round(minutes, 2), nfe=nfe, **{k: round(v, 4) for k, v in r.items()},
                   period_peak=round(peak(gen), 3), layout_agreement=round(agr['mean'], 3),
                   agreement_per_class={str(k): round(v, 3) for k, v in agr.items() if k != 'mean'})
        save(out, key, row, meta)
        print(f"{key:>9s} {minutes:5.1f} min  FID {r['FID']:6.1f}  KID {r['KID']:.3f}  P {r['precision']:.2f}  R {r['recall']:.2f}  "
              f"peak {row['period_peak']:5.2f}  agree {row['layout_agreement']:.3f}", flush=True)
    res = json.loads(out.read_text())
    f = res['real_floor']
    print(f"\n{'steps/ω/η':>10s}{'min':>6s}{'FID':>8s}{'KID':>8s}{'P':>6s}{'R':>6s}{'C_T':>7s}{'8-px peak':>10s}{'agree':>7s}")
    for k, r in res['rows'].items():
        print(f"{k:>10s}{r['minutes']:>6.1f}{r['FID']:>8.1f}{r['KID']:>8.3f}{r['precision']:>6.2f}{r['recall']:>6.2f}{r['C_T']:>7.1f}"
              f"{r['period_peak']:>10.2f}{r['layout_agreement']:>7.3f}")
    print(f"{'real floor':>10s}{'':>6s}{f['FID']:>8.1f}{f['KID']:>8.3f}{f['precision']:>6.2f}{f['recall']:>6.2f}{f['C_T']:>7.1f}"
          f"{f['period_peak']:>10.2f}{f['layout_agreement']:>7.3f}")

if __name__ == '__main__': main()
