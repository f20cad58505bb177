"""The experiments' configs, part of the installed package so that a notebook builds a
run exactly as the command line does:

    from bn_smooth.configs import vgg_cifar
    config = vgg_cifar.get_config("norm=batch,scale=cpu")   # as --config=...vgg_cifar.py:...

`vgg_cifar` and `dln` make one run's config (`norm`, `lr`, `scale`, `seed`, ...);
`reproduce` and `c4_study` make a suite's (its runs, by `common.run_spec`);
`common` holds what they share.
"""
