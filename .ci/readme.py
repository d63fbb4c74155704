"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing Quarto).

Markdown cells are copied; code cells become ```python blocks; outputs, `#| hide` and `#| echo: false` cells and
import-only cells are left out, except the Markdown outputs (tables of benchmark figures) of `#| echo: false` cells.
`python .ci/readme.py --check` exits 1 if README.md is out of date.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render() -> str:
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    parts = ['<!-- generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file -->']
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        first = src.splitlines()[0] if src else ''
        if not src or '#| hide' in first: continue
        if c['cell_type'] == 'code' and '#| echo: false' in src:       # outputs only on the site, except Markdown (tables)
            parts += [''.join(o['data']['text/markdown']).strip() for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})]
            continue
        if c['cell_type'] == 'code' and src.startswith(('from ', 'import ')): continue
        parts.append(src if c['cell_type'] == 'markdown' else f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), root/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md is out of date: run `python .ci/readme.py`')
    else: readme.write_text(text)
