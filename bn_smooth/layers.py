"""3x3 convolution and 2x2 max pooling, formulated per backend and layer shape.

XLA:CPU runs convolutions, and above all their gradients, far below its matmul
speed. On CPU a convolution is therefore written as matmuls: Winograd's
F(2x2, 3x3) on the wider layers (see default_formulation), nine shifted views
of the padded input and one matmul elsewhere (the first layer, 2x2 inputs,
narrow layers: all of VGG-11 at 1/8 width), the choice that measured fastest
on whole training steps (docs/speed.md); max pooling as a reshape and a max.
On GPU and TPU the native convolution is used. `formulation=` names one for every
layer instead.
All formulations hold the same parameters, named and shaped as flax's `nn.Conv`
('kernel' (3, 3, C_in, C_out), 'bias' (C_out,)), so checkpoints and probes do
not depend on the backend, and tests check them against `nn.Conv` and
`nn.max_pool`.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bn_smooth.errors import ConfigError

# On CPU, Winograd for inputs at least 4x4 whose size times channels is at least 512:
# where it made whole training steps faster. Below (every layer at 1/8 width) its steps
# were at most 7% faster and its programs took 1.6x as long to compile, which made the
# cpu-scale suite 5% slower (docs/speed.md).
WINOGRAD_MIN_SIZE, WINOGRAD_MIN_SIZE_TIMES_CHANNELS = 4, 512


def default_formulation(x_shape: tuple[int, ...] | None = None) -> str:
    """The formulation of a layer whose input (N, H, W, C) has shape `x_shape`: 'native'
    off CPU; on CPU 'winograd' for inputs at least 4x4 with H * C at least 512, 'shifted'
    otherwise (and for pooling, which passes no shape)."""
    if jax.default_backend() != "cpu":
        return "native"
    if x_shape is not None:
        size, channels = min(x_shape[1:3]), x_shape[3]
        if size >= WINOGRAD_MIN_SIZE and size * channels >= WINOGRAD_MIN_SIZE_TIMES_CHANNELS:
            return "winograd"
    return "shifted"


def conv3x3_shifted(x, kernel):
    """'SAME' 3x3 convolution, stride 1, as nine shifted views and one matmul."""
    n, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # Channel blocks in the kernel's (row, column, C_in) order.
    views = [padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]
    patches = jnp.concatenate(views, axis=-1).reshape(n * h * w, 9 * c)
    return (patches @ kernel.reshape(9 * c, -1)).reshape(n, h, w, -1)


# Winograd's F(2x2, 3x3) (Lavin & Gray, 2016): Y = A^T [(G g G^T) * (B^T d B)] A for each
# 2x2 output tile Y and 4x4 input tile d: 16 multiplies per tile and channel pair, not 36.
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])


def _combine(matrix, arrays):
    """[sum_i matrix[a, i] * arrays[i] for each row a], as additions (entries 0, +-1)."""
    out = []
    for row in matrix:
        terms = [a if m == 1 else -a for m, a in zip(row, arrays, strict=True) if m != 0]
        out.append(sum(terms[1:], terms[0]))
    return out


def conv3x3_winograd(x, kernel):
    """'SAME' 3x3 convolution, stride 1, by Winograd's F(2x2, 3x3): the tiles' transforms
    as additions of strided views, and 16 matmuls over channels (separate matmuls: one
    batched dot measured slower on XLA:CPU). Odd sizes are padded to even and cropped."""
    n, h, w, c = x.shape
    th, tw = -(-h // 2), -(-w // 2)  # tiles
    padded = jnp.pad(x, ((0, 0), (1, 2 * th - h + 1), (1, 2 * tw - w + 1), (0, 0)))
    # d[i][j]: element (i, j) of every 4x4 input tile, (N, tiles down, tiles across, C).
    d = [[padded[:, i : i + 2 * th : 2, j : j + 2 * tw : 2] for j in range(4)] for i in range(4)]
    columns = [_combine(_BT, [d[i][j] for i in range(4)]) for j in range(4)]
    v = [_combine(_BT, [columns[j][a] for j in range(4)]) for a in range(4)]  # B^T d B
    u = jnp.einsum(
        "ai,ijcd,bj->abcd", _G.astype(kernel.dtype), kernel, _G.astype(kernel.dtype)
    )  # G g G^T
    m = [
        [(v[a][b].reshape(-1, c) @ u[a, b]).reshape(n, th, tw, -1) for b in range(4)]
        for a in range(4)
    ]
    rows = [_combine(_AT, [m[a][b] for a in range(4)]) for b in range(4)]
    y = [_combine(_AT, [rows[b][p] for b in range(4)]) for p in range(2)]  # y[p][q]: A^T m A
    tiles = jnp.stack([jnp.stack(y[p], axis=3) for p in range(2)], axis=2)
    return tiles.reshape(n, 2 * th, 2 * tw, -1)[:, :h, :w]


def conv3x3_native(x, kernel):
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


CONVOLUTIONS = {"shifted": conv3x3_shifted, "native": conv3x3_native, "winograd": conv3x3_winograd}
FORMULATIONS = tuple(CONVOLUTIONS)


def conv3x3(x, kernel, formulation: str | None = None):
    """'SAME' 3x3 convolution, stride 1, by `formulation` (None: default_formulation)."""
    formulation = formulation or default_formulation(x.shape)
    if formulation not in CONVOLUTIONS:
        raise ConfigError(
            f"unknown convolution formulation {formulation!r}; valid: {', '.join(FORMULATIONS)}"
        )
    return CONVOLUTIONS[formulation](x, kernel)


class Conv3x3(nn.Module):
    """A 'SAME' 3x3 convolution with flax's parameter layout, computing with
    kernel_transform(kernel) where one is given (weight normalization, standardization)."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.glorot_uniform()
    formulation: str | None = None  # None: default_formulation(x.shape)
    kernel_transform: Callable | None = None

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features))
        if self.kernel_transform is not None:
            kernel = self.kernel_transform(kernel)
        y = conv3x3(x, kernel, self.formulation)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class Dense(nn.Module):
    """A dense layer with flax's parameter layout ('kernel' (C_in, C_out), 'bias'),
    computing with kernel_transform(kernel) where one is given."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.glorot_uniform()
    kernel_transform: Callable | None = None

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        if self.kernel_transform is not None:
            kernel = self.kernel_transform(kernel)
        y = x @ kernel
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


def max_pool2x2(x, formulation: str | None = None):
    """2x2 max pooling with stride 2 on (N, H, W, C); an odd last row or column is dropped.

    The native pooling (formulation "native") and the reshape (every other) both route the
    gradient of a window with tied maxima to the first of them in row-major order, as
    XLA's native pooling does on every backend.
    """
    if (formulation or default_formulation()) != "native":
        n, h, w, c = x.shape
        x = x[:, : h // 2 * 2, : w // 2 * 2]
        return _window_max(x.reshape(n, h // 2, 2, w // 2, 2, c))
    return nn.max_pool(x, (2, 2), strides=(2, 2))


@jax.custom_jvp
def _window_max(windows):
    """The max of each 2x2 window of (N, H/2, 2, W/2, 2, C). A plain max's derivative
    would split a window's gradient equally among tied maxima, as real images have them
    (equal pixels, ReLU zeros)."""
    return windows.max(axis=(2, 4))


@_window_max.defjvp
def _window_max_jvp(primals, tangents):
    (windows,), (tangent,) = primals, tangents
    top = _window_max(windows)
    is_max = windows == top[:, :, None, :, None]
    # The first maximum in row-major order: none earlier in its row, none in the row above.
    in_row_before = jnp.cumsum(is_max, axis=4) > is_max
    row_has_max = is_max.any(axis=4, keepdims=True)
    row_before = jnp.cumsum(row_has_max, axis=2) > row_has_max
    first = is_max & ~in_row_before & ~row_before
    return top, jnp.where(first, tangent, 0).sum(axis=(2, 4))
