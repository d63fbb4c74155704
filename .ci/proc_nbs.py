"""The docs build without Quarto: what `nbdev_proc_nbs` does, minus its attempt to install Quarto.

nbdev's `_ensure_quarto` tries `sudo` to install Quarto and then re-runs `pip install -e .`; neither is needed to
process the notebooks into `_proc/`, and CI machines have neither sudo nor a reason to reinstall.
"""
import nbdev.quarto as q

if __name__ == '__main__':                 # nbdev processes notebooks in parallel: children re-import this file
    q._ensure_quarto = lambda: None
    q._pre_docs()
