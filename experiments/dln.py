"""Train the deep linear network. Kept short on purpose: the logic is in bn_smooth.loop.

    python -m experiments.dln --config=bn_smooth/configs/dln.py:norm=none,scale=cpu \
        --workdir=runs/dln_none
"""

from experiments.launch import main, run

if __name__ == "__main__":
    run(main)
