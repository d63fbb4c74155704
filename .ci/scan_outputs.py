"""Fail on notebook outputs that must not reach the docs site: machine paths, temporary folders, error outputs.

`python .ci/scan_outputs.py nbs` checks the saved outputs of the notebooks; `python .ci/scan_outputs.py _proc` checks
what `nbdev_proc_nbs` produced. Exits 1 with one line per problem.
"""
import json, re, sys
from pathlib import Path

PATH = re.compile(r'(?<![\w.])/(?:work|root|tmp|home|Users|private|var/folders)/[\w.-]+')
def problems(nb_path: Path):
    try: cells = json.loads(nb_path.read_text())['cells']
    except (ValueError, KeyError): return [f'{nb_path}: not a notebook']
    out = []
    for i, c in enumerate(cells):
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error': out.append(f"{nb_path} cell {i}: error output {o.get('ename')}")
            txt = json.dumps({k: v for k, v in o.get('data', {}).items() if not k.startswith('image/')} if 'data' in o else o.get('text', ''))
            m = PATH.search(txt)
            if m: out.append(f"{nb_path} cell {i}: machine path {m.group(0)!r} in an output")
    return out

if __name__ == '__main__':
    root = Path(sys.argv[1] if len(sys.argv) > 1 else 'nbs')
    found = [p for f in sorted(root.rglob('*.ipynb')) if '.ipynb_checkpoints' not in f.parts for p in problems(f)]
    print('\n'.join(found) or f'{root}: outputs clean')
    sys.exit(1 if found else 0)
