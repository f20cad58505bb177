"""Train VGG on CIFAR-10. Kept short on purpose: the logic is in bn_smooth.loop.

    python -m experiments.vgg_cifar \
        --config=bn_smooth/configs/vgg_cifar.py:norm=batch,scale=cpu --workdir=runs/vgg_bn
"""

from experiments.launch import main, run

if __name__ == "__main__":
    run(main)
