"""Peak memory of writing a large whole-slide output: a 16384² RGB image (768 MiB as an array) and its class mask,
written as pyramidal TIFFs from memory maps, must never need the full image in RAM.

Memory is the anonymous resident set (heap and arrays) sampled every 20 ms during the writes; pages of the
memory-mapped input that the kernel keeps mapped are file cache, reclaimable, and reported apart (max RSS).
Writes benchmarks/results/slide_memory.json and prints a table. Run: python benchmarks/slide_memory.py [--size 16384]
"""
import argparse, json, os, platform, resource, tempfile, threading, time
from pathlib import Path
import numpy as np

def rss_mib(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024       # Linux: KiB

def anon_mib() -> float:
    "Anonymous resident memory (heap, arrays) of this process: memory-mapped file pages are not counted."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('RssAnon:'): return int(line.split()[1])/1024
    return float('nan')

class PeakAnon:
    "Sample `anon_mib` every 20 ms while the block runs; `.peak` is the highest value seen."
    def __enter__(self):
        self.peak, self.stop = anon_mib(), threading.Event()
        def run():
            while not self.stop.is_set(): self.peak = max(self.peak, anon_mib()); time.sleep(0.02)
        self.t = threading.Thread(target=run, daemon=True); self.t.start(); return self
    def __exit__(self, *a): self.stop.set(); self.t.join(); self.peak = max(self.peak, anon_mib())

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--size', type=int, default=16384); ap.add_argument('--band', type=int, default=512)
    a = ap.parse_args()
    from diffinfinite_nb.slide import write_pyramid
    n = a.size
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as d:
        d = Path(d)
        img = np.lib.format.open_memmap(d/'img.npy', 'w+', np.uint8, (n, n, 3))
        cls = np.lib.format.open_memmap(d/'cls.npy', 'w+', np.uint8, (n, n))
        x = np.arange(n)
        for y in range(0, n, a.band):                        # tissue-like smooth colours and blocky classes, band by band
            yy = np.arange(y, min(y + a.band, n))[:, None]
            img[y:y + len(yy)] = np.stack([200 - 60*np.sin(x/97)*np.cos(yy/89), 120 + 50*np.sin(yy/61 + x/53),
                                           190 + 40*np.cos(x/71)*np.ones_like(yy)], -1).astype(np.uint8)
            cls[y:y + len(yy)] = ((x//700 + yy//700) % 5).astype(np.uint8)
        img.flush(); cls.flush()
        before = anon_mib()
        with PeakAnon() as pk:
            t0 = time.time(); write_pyramid(d/'slide.tif', img, progress=False); t_img = time.time() - t0
            t0 = time.time(); write_pyramid(d/'slide_mask.tif', cls, kind='mask', progress=False); t_mask = time.time() - t0
        peak, maxrss = pk.peak, rss_mib()
        sizes = {f.name: f.stat().st_size/2**20 for f in (d/'slide.tif', d/'slide_mask.tif')}
    full = n*n*3/2**20
    res = dict(size=n, full_rgb_array_mib=round(full, 1), peak_anon_rss_mib=round(peak, 1), anon_rss_before_write_mib=round(before, 1),
               max_rss_incl_mapped_file_pages_mib=round(maxrss, 1),
               peak_anon_over_full_rgb=round(peak/full, 3), write_image_s=round(t_img, 1), write_mask_s=round(t_mask, 1),
               image_tif_mib=round(sizes['slide.tif'], 1), mask_tif_mib=round(sizes['slide_mask.tif'], 1),
               cpu=platform.machine(), threads=os.cpu_count())
    print(f"{'size':>8} {'full RGB array':>15} {'peak anon':>10} {'peak/full':>10} {'image write':>12} {'mask write':>11} {'image.tif':>10} {'mask.tif':>9}")
    print(f"{n:>7}² {full:>11.0f} MiB {peak:>6.0f} MiB {peak/full:>10.3f} {t_img:>10.1f} s {t_mask:>9.1f} s {sizes['slide.tif']:>6.1f} MiB {sizes['slide_mask.tif']:>5.1f} MiB")
    out = Path(__file__).parent/'results'/'slide_memory.json'; out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
