"""VGG for CIFAR-10 and the deep linear network (appendix A.1).

Parameters are laid out by layer: the top-level keys are `layer_00`,
`layer_01`, ... in forward order (then `head` for VGG), and each holds its
weights and its normalization's scale and shift, so that "the layers before
layer i" is a selection of top-level keys. Each layer records its input to
the normalization and the normalization's output with `sow` in the
'intermediates' collection, for activation tracking.
"""

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn

from bn_smooth import layers
from bn_smooth.norms import Identity

ModuleDef = Callable[..., nn.Module]

glorot = nn.initializers.glorot_uniform()
# The classifier's last Dense: Glorot, as the paper's every layer, or zeros (the logits
# start at 0 and the layers below get no gradient in the first step).
HEAD_INITS = {"glorot": glorot, "zeros": nn.initializers.zeros_init()}

# Simonyan & Zisserman's configurations A, B, D, E: widths, 'M' = 2x2 max pool.
# fmt: off
VGG_CFGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
# fmt: on


def vgg_cfg(cfg) -> tuple:
    """A configuration's widths and 'M's: `cfg` a name from VGG_CFGS or such a sequence."""
    return VGG_CFGS[cfg] if isinstance(cfg, str) else tuple(cfg)


def vgg_conv_shapes(
    cfg="vgg11", width: float = 1.0, size: int = 32
) -> list[tuple[int, int, int, bool]]:
    """(input size, C_in, C_out, followed by pooling) of each convolution of
    VGG(cfg, width=width) on size x size RGB images: what speed and layer tests iterate."""
    cfg, shapes, c_in = vgg_cfg(cfg), [], 3
    for pos, v in enumerate(cfg):
        if v == "M":
            size //= 2
            continue
        c_out = max(1, round(v * width))
        shapes.append((size, c_in, c_out, pos + 1 < len(cfg) and cfg[pos + 1] == "M"))
        c_in = c_out
    return shapes


def layer_name(i: int) -> str:
    return f"layer_{i:02d}"


def layer_order(params) -> list[str]:
    """The top-level parameter keys in forward order (jax sorts dict keys)."""
    layers = sorted(k for k in params if k.startswith("layer_"))
    return layers + [k for k in params if not k.startswith("layer_")]


class Block(nn.Module):
    """One layer: a linear map (conv 3x3 or dense), its norm, then ReLU and pooling."""

    features: int
    norm: ModuleDef
    conv: bool = True
    relu: bool = True
    pool: bool = False
    use_bias: bool = True
    formulation: str | None = None  # of the convolution and pooling; see bn_smooth.layers

    @nn.compact
    def __call__(self, x, train: bool):
        norm = self.norm(name="norm")
        # Weight normalization and weight standardization act on the kernel, and take the
        # linear map's bias after them (bn_smooth.example_norms).
        use_bias = self.use_bias and getattr(norm, "linear_bias", True)
        kernel_transform = getattr(norm, "kernel_transform", None)
        if self.conv:
            linear = functools.partial(layers.Conv3x3, formulation=self.formulation, name="conv")
        else:
            linear = functools.partial(layers.Dense, name="dense")
        x = linear(
            self.features, use_bias=use_bias, kernel_init=glorot, kernel_transform=kernel_transform
        )(x)
        self.sow("intermediates", "pre_norm", x)
        x = norm(x, train=train)
        self.sow("intermediates", "post_norm", x)
        if self.relu:
            x = nn.relu(x)
        if self.pool:
            x = layers.max_pool2x2(x, self.formulation)
        return x


class VGG(nn.Module):
    """VGG on 32x32 images: conv -> norm -> ReLU blocks, then the classifier.

    `cfg` is a name from VGG_CFGS or a sequence of widths and 'M'; every width
    is multiplied by `width`. `classifier` lists hidden dense widths before the
    final Dense(num_classes) (empty: the common CIFAR head, a single Dense).
    `head_init` names the final Dense's kernel initializer (HEAD_INITS). `formulation`
    picks how convolutions run (bn_smooth.layers; None: per backend and layer).
    """

    cfg: str | Sequence = "vgg11"
    norm: ModuleDef = Identity
    width: float = 1.0
    classifier: Sequence[int] = ()
    num_classes: int = 10
    formulation: str | None = None
    head_init: str = "glorot"

    @nn.compact
    def __call__(self, x, train: bool = True):
        convs = vgg_conv_shapes(self.cfg, self.width)
        for index, (_, _, features, pool) in enumerate(convs):
            x = Block(
                features, self.norm, pool=pool, formulation=self.formulation, name=layer_name(index)
            )(x, train)
        x = x.reshape(x.shape[0], -1)
        for index, hidden in enumerate(self.classifier, start=len(convs)):
            features = max(1, round(hidden * self.width))
            x = Block(features, self.norm, conv=False, name=layer_name(index))(x, train)
        return nn.Dense(self.num_classes, kernel_init=HEAD_INITS[self.head_init], name="head")(x)


class DeepLinearNet(nn.Module):
    """x -> x W_1 ... W_k: `depth` square bias-free layers, no non-linearity.

    With a norm, it follows every layer but the last (the output must be free
    to match Ax). Appendix A uses the norm without affine parameters.
    """

    depth: int = 25
    dim: int = 10
    norm: ModuleDef = Identity

    @nn.compact
    def __call__(self, x, train: bool = True):
        for i in range(self.depth):
            norm = self.norm if i < self.depth - 1 else Identity
            x = Block(self.dim, norm, conv=False, relu=False, use_bias=False, name=layer_name(i))(
                x, train
            )
        return x
