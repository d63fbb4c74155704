"""The docs site's `show_doc` renderer (settings.ini `renderer`): the signature without its comments, the docstring,
then the parameters as a table (fastcore's docments), so cross-links in parameter comments render as links rather
than as raw Markdown inside a code block. Tooling for the docs build, not part of the method."""
import inspect
from fastcore.docments import DocmentText, docments, _maybe_nm, _fmt_default
from nbdev.showdoc import BasicMarkdownRenderer

class _BareSignature(DocmentText):
    "A signature with no `# comment` after its parameters."
    def _fmt_param(self, nm, p):                      # `x=None` without a type: no `NoneType` (docments infers it)
        return super()._fmt_param(nm, {**p, 'anno': inspect._empty} if p.get('anno') is type(None) else p)
    @property
    def params(self): return [(p, '') for p, _ in super().params]
    @property
    def _ret_str(self):
        s = super()._ret_str
        return s.split(' #')[0]

class TableRenderer(BasicMarkdownRenderer):
    "`show_doc` as signature, docstring, then a parameter table."
    def __init__(self, sym, name=None, title_level=3, maxline=110):
        super().__init__(sym, name=name, title_level=title_level, maxline=maxline)
        self.dm = _BareSignature(self.sym, maxline=maxline, docstring=False)
    def _repr_markdown_(self):
        doc = super()._repr_markdown_()
        if inspect.isclass(self.sym): doc = doc.replace('```python\ndef ', '```python\nclass ', 1)
        try: tbl = param_table(self.sym) if callable(self.sym) else ''
        except Exception: tbl = ''                     # a symbol docments cannot read keeps its signature and docstring
        return doc + (f'\n\n{tbl}' if tbl else '')

def param_table(sym) -> str:
    "The parameters of `sym` with a comment, as a Markdown table (name, type, default, what it is); '' when none has one."
    dm = {k: v for k, v in docments(sym, full=True).items() if k not in ('self', 'return') and not k.startswith('_')}
    if not any(v.get('docment') for v in dm.values()): return ''
    cell = lambda x: str(x).replace('|', '\\|').replace('\n', ' ')
    none = inspect._empty
    rows = [f"| `{k}` | {cell(_maybe_nm(v['anno'])) if v.get('anno', none) not in (none, type(None)) else ''} | "
            f"{cell(_fmt_default(v['default'])) if v.get('default', none) is not none else ''} | {cell(v.get('docment') or '')} |"
            for k, v in dm.items()]
    return '\n'.join(['| parameter | type | default | |', '|---|---|---|---|', *rows])
