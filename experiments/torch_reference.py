"""The PyTorch reference of experiments/benchmark.py: the same networks, batches and
measurements, written for PyTorch eager (and torch.compile). Only the `bench` extra
installs PyTorch; the library never imports it.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from bn_smooth import models

BATCH, LR, NUM_ETAS, DATASET = 128, 0.1, 8, 1024
STEPS_PER_CALL = 5  # training steps per timed call, on both sides; rows give seconds per step
LANCZOS_STEPS = 20


def images(seed=0):
    """The benchmark's dataset: random CIFAR-sized uint8 images and labels."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (DATASET, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, DATASET).astype(np.int32),
    )


def gaussian_regression():
    """The DLN benchmark's data: 1,000 Gaussian inputs and a random linear target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 10)).astype(np.float32)
    return x, x @ rng.normal(size=(10, 10)).astype(np.float32)


@dataclasses.dataclass
class Network:
    """A PyTorch model in training mode, its layers' parameters in forward order, how to
    draw a batch, its loss, learning rate and line-search step sizes."""

    model: object
    groups: list
    batch: Callable
    loss_of: Callable
    lr: float
    etas: np.ndarray


def vgg_network(norm: str, width: float) -> Network:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    layers, groups = [], []
    convs = models.vgg_conv_shapes("vgg11", width)
    for _, c_in, c, pooled in convs:
        conv, bn = nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c)
        layers += [conv, bn if norm == "batch" else nn.Identity(), nn.ReLU()]
        layers += [nn.MaxPool2d(2)] if pooled else []
        groups.append(list(conv.parameters()) + (list(bn.parameters()) if norm == "batch" else []))
    head = nn.Linear(convs[-1][2], 10)
    groups.append(list(head.parameters()))
    x_all, y_all = images()
    x_all = (torch.from_numpy(x_all).float().permute(0, 3, 1, 2) - 120.0) / 64.0
    y_all = torch.from_numpy(y_all).long()

    def batch():
        idx = torch.randperm(DATASET)[:BATCH]
        return x_all[idx], y_all[idx]

    return Network(
        nn.Sequential(*layers, nn.Flatten(), head),
        groups,
        batch,
        F.cross_entropy,
        LR,
        LR * np.linspace(0.5, 4.0, NUM_ETAS),
    )


def dln_network(norm: str) -> Network:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers, groups = [], []
    for i in range(25):
        layers.append(nn.Linear(10, 10, bias=False))
        groups.append(list(layers[-1].parameters()))
        if norm == "batch" and i < 24:
            layers.append(nn.BatchNorm1d(10, affine=False))
    x, targets = (torch.from_numpy(a) for a in gaussian_regression())
    lr = 1e-6
    return Network(
        nn.Sequential(*layers),
        groups,
        lambda: (x, targets),
        lambda out, y: ((out - y) ** 2).sum(),
        lr,
        lr * np.geomspace(0.01, 30.0, NUM_ETAS),
    )


def measurements(
    net: Network, compile_model: bool = False, with_hessian: bool = False
) -> dict[str, Callable]:
    """{steps, line_search, ics, hvp, lanczos}: the benchmark's measurements on `net`
    (the Hessian's two only `with_hessian`: they make its BatchNorm stateless)."""
    import torch

    net.model.train()
    forward = torch.compile(net.model) if compile_model else net.model
    params = list(net.model.parameters())
    opt = torch.optim.SGD(params, lr=net.lr)

    def one_step():
        xb, yb = net.batch()
        opt.zero_grad(set_to_none=True)
        loss = net.loss_of(forward(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    def steps():
        return [float(one_step()) for _ in range(STEPS_PER_CALL)]

    def grads(xb, yb, wrt):
        return torch.autograd.grad(net.loss_of(forward(xb), yb), wrt)

    def set_params(values):
        with torch.no_grad():
            for p, v in zip(params, values, strict=True):
                p.copy_(v)

    def distance(a, b):
        return float(torch.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b, strict=True))))

    def line_search():
        """The line search, and ||H g_hat|| at its start (double backward), as our probe."""
        xb, yb = net.batch()
        g = torch.autograd.grad(net.loss_of(forward(xb), yb), params, create_graph=True)
        norm = torch.sqrt(sum((gi.detach() ** 2).sum() for gi in g))
        hg = torch.autograd.grad(g, params, grad_outputs=[gi.detach() / norm for gi in g])
        g = [gi.detach() for gi in g]
        base = [p.detach().clone() for p in params]
        dists = []
        for eta in net.etas:
            set_params([b - eta * gi for b, gi in zip(base, g, strict=True)])
            dists.append(distance(grads(xb, yb, params), g))
        set_params(base)
        return max(dists), float(torch.sqrt(sum((h**2).sum() for h in hg)))

    def ics():
        xb, yb = net.batch()
        before = [p.detach().clone() for p in params]
        g_before = grads(xb, yb, params)
        after = [b - net.lr * gi for b, gi in zip(before, g_before, strict=True)]
        index = {id(p): i for i, p in enumerate(params)}
        out = []
        for k, group in enumerate(net.groups):
            lower = {index[id(p)] for grp in net.groups[:k] for p in grp}
            set_params([after[i] if i in lower else before[i] for i in range(len(params))])
            out.append(distance(grads(xb, yb, group), [g_before[index[id(p)]] for p in group]))
        set_params(before)
        return out

    def hessian_tools():
        """A Hessian-vector product (torch.func, forward-over-reverse) of the training-mode
        loss, with BatchNorm on batch statistics, and Lanczos on it."""
        from torch.func import functional_call, grad, jvp, replace_all_batch_norm_modules_

        replace_all_batch_norm_modules_(net.model)  # batch statistics, no running averages
        xb, yb = net.batch()
        named = {k: v.detach() for k, v in net.model.named_parameters()}

        def loss_p(p):
            return net.loss_of(functional_call(net.model, p, (xb,)), yb)

        def hvp(v):
            return jvp(grad(loss_p), (named,), (v,))[1]

        shapes = {k: v.shape for k, v in named.items()}
        sizes = {k: v.numel() for k, v in named.items()}

        def flat_hvp(v):
            parts = dict(zip(shapes, torch.split(v, list(sizes.values())), strict=True))
            out = hvp({k: parts[k].view(shapes[k]) for k in shapes})
            return torch.cat([out[k].reshape(-1) for k in shapes])

        def one_hvp():
            return hvp({k: torch.ones_like(v) for k, v in named.items()})

        def lanczos(num_steps=LANCZOS_STEPS):
            n = sum(sizes.values())
            basis = torch.zeros(num_steps, n)
            v = torch.randn(n)
            basis[0] = v / v.norm()
            alphas = []
            for i in range(num_steps):
                w = flat_hvp(basis[i])
                alphas.append(float(basis[i] @ w))
                for _ in range(2):  # full reorthogonalization, as ours
                    w = w - basis[: i + 1].T @ (basis[: i + 1] @ w)
                if i + 1 < num_steps:
                    basis[i + 1] = w / w.norm()
            return alphas

        return one_hvp, lanczos

    one_hvp, lanczos = hessian_tools() if with_hessian else (None, None)
    return {
        "steps": steps,
        "line_search": line_search,
        "ics": ics,
        "hvp": one_hvp,
        "lanczos": lanczos,
    }


def torch_reference(
    kind: str,
    norm: str,
    width: float = 1.0,
    compile_model: bool = False,
    with_hessian: bool = False,
):
    net = vgg_network(norm, width) if kind == "vgg" else dln_network(norm)
    return measurements(net, compile_model, with_hessian)
