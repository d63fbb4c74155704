"The docs build's show_doc renderer and README handling: parameter tables, no comments (or links) inside signatures."
import re
from diffinfinite_nb._showdoc import TableRenderer, param_table

def f(a: int|None = None,   # first, with `a | b` inside
      b=None,               # second
      c: str = 'x'):        # third
    "Docstring."

def g(a, b=1): "No comments."

def test_signature_has_no_comments_and_table_escapes_pipes():
    md = TableRenderer(f)._repr_markdown_()
    sig = re.search(r'```python\n(.*?)```', md, re.S).group(1)
    assert '#' not in sig and 'NoneType' not in sig, sig
    rows = [l for l in md.splitlines() if l.startswith('| `')]
    assert [r.split(' | ')[0] for r in rows] == ['| `a`', '| `b`', '| `c`'], rows
    assert r'int \| None' in rows[0] and r'`a \| b`' in rows[0], rows[0]
    assert all(len(re.findall(r'(?<!\\)\|', r)) == 5 for r in rows), rows    # four columns in every row
    assert "'x'" in rows[2] and '*Docstring.*' in md

def test_no_table_without_comments_and_classes_say_class():
    assert param_table(g) == ''
    class K:
        "A class."
        def __init__(self, x: int = 1): pass   # the x
    assert '```python\nclass K' in TableRenderer(K)._repr_markdown_()
