"""Evaluate every statement on random instances and summarize each as a table row."""

import jax
import numpy as np

from bn_smooth.arithmetic import cpu_options
from bn_smooth.theory.instances import quantities, sample
from bn_smooth.theory.statements import lemma_4_5
from bn_smooth.theory.table import STATEMENTS, Statement

BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
TOLERANCE = 1e-8  # relative to each instance's scale; float64 round-off is ~1e-15
# An absolute floor under each instance's scale: where every term is itself round-off (at
# batch size 2 BatchNorm's gradient is identically 0: yhat = +-1 leaves nothing after
# projecting out 1 and yhat), differences below TOLERANCE * SCALE_FLOOR are no violation.
SCALE_FLOOR = 1e-12
# Each program runs once, on all its instances: compiled without LLVM's optimizations,
# the whole check took 60 s instead of 105 s (empty compilation cache, 2 cores), and with
# XLA:CPU's older fusion code generator besides, 0.64x that again (docs/speed.md), with
# the same counts and verdicts (values moved in the last bits).
OLDER_FUSION_EMITTER = (("xla_cpu_use_fusion_emitters", False),)


def run_once() -> dict:
    """The compile options of the theory's programs (the emitter's only where this jaxlib
    has it: bn_smooth.arithmetic.cpu_options)."""
    return {"xla_backend_optimization_level": 0, **dict(cpu_options(OLDER_FUSION_EMITTER))}


def _violations(out, relation, lhs_key, rhs_key):
    """Per instance: relative violation and relative slack (None for equalities)."""
    lhs, rhs = np.asarray(out[lhs_key]), np.asarray(out[rhs_key])
    scale = np.maximum(np.asarray(out["scale"]), SCALE_FLOOR).reshape(-1, *[1] * (lhs.ndim - 1))
    diff = (lhs - rhs) / scale
    axes = tuple(range(1, diff.ndim))
    if relation == "==":
        return np.abs(diff).max(axis=axes) if axes else np.abs(diff), None
    return np.maximum(diff, 0), -diff


def _evaluate_group(statements, m: int, loss: str, keys):
    """All `statements` on the instances of `keys`: one compiled program per (m, loss)."""

    # Statements that share a check (the forms of 4.4 and of C.1) share its evaluation.
    checks = list(dict.fromkeys(st.check for st in statements))

    def one(key):
        inst = sample(key, m, loss)
        q = quantities(inst)
        return [check(inst, q) for check in checks]

    outs = dict(
        zip(
            checks,
            jax.device_get(jax.jit(jax.vmap(one), compiler_options=run_once())(keys)),
            strict=True,
        )
    )
    finished = {}
    for st in statements:
        if st.check not in finished:
            finished[st.check] = st.host(outs[st.check]) if st.host else outs[st.check]
    return [finished[st.check] for st in statements]


def _summarize(st: Statement, outs: list[tuple[int, str, dict]]) -> dict:
    violations, slacks, worst, extras = [], [], None, {}
    for m, loss, out in outs:
        v, sl = _violations(out, st.relation, st.lhs, st.rhs)
        violations.append(v)
        if sl is not None:
            slacks.append(sl)
        for key in ("hessian_psd", "yhat_dot_ghat_positive", "grad_not_larger"):
            if key in out:
                extras.setdefault(key, []).append(np.asarray(out[key]))
        i = int(np.argmax(v))
        if worst is None or v[i] > worst["violation"]:
            worst = {
                "violation": float(v[i]),
                "m": m,
                "loss": loss,
                "lhs": float(np.ravel(out[st.lhs][i])[0]),
                "rhs": float(np.ravel(out[st.rhs][i])[0]),
            }
    violations = np.concatenate(violations)
    if np.isnan(violations).any():
        raise FloatingPointError(
            f"{st.name} ({st.form}): NaN on {np.isnan(violations).sum()} "
            "instances; the check itself is broken there"
        )
    result = {
        "statement": st.name,
        "form": st.form,
        "relation": st.relation,
        "instances": len(violations),
        "max_violation": float(violations.max()),
        "min_slack": float(np.concatenate(slacks).min()) if slacks else None,
        "violated": int((violations > TOLERANCE).sum()),
        "worst": worst,
    }
    for key, parts in extras.items():
        result[key] = float(np.concatenate(parts).mean())
    for key in ("grad_not_larger", "yhat_dot_ghat_positive"):  # violations where it holds
        if key in extras:
            ok = np.concatenate(extras[key]).astype(bool)
            result[f"violated_when_{key}"] = int((violations[ok] > TOLERANCE).sum())
    result["verdict"] = _verdict(result)
    return result


def run_statements(
    statements, instances: int, seed: int = 0, batch_sizes=BATCH_SIZES
) -> list[dict]:
    """Each statement on about `instances` instances spread over batch sizes and its losses."""
    outs = {st: [] for st in statements}
    losses = sorted({loss for st in statements for loss in st.losses})
    for loss in losses:
        group = [st for st in statements if loss in st.losses]
        # Statements evaluated together share their losses, hence one count per group.
        per_group = -(-instances // (len(batch_sizes) * len(group[0].losses)))
        for m in batch_sizes:
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), m), len(loss))
            results = _evaluate_group(group, m, loss, jax.random.split(key, per_group))
            for st, out in zip(group, results, strict=True):
                outs[st].append((m, loss, out))
    return [_summarize(st, outs[st]) for st in statements]


def _verdict(r) -> str:
    if r["violated"] == 0:
        verdict = "holds (equality)" if r["relation"] == "==" else "holds"
    else:
        w = r["worst"]
        verdict = (
            f"false: {r['violated']}/{r['instances']} violated; e.g. m={w['m']}, "
            f"{w['loss']} loss: lhs {w['lhs']:.4g} > rhs {w['rhs']:.4g}"
        )
    if "violated_when_grad_not_larger" in r:
        verdict += (
            f"; {r['violated_when_grad_not_larger']} violated where "
            f"norm(dL^/dy) <= norm(g_hat) ({r['grad_not_larger']:.0%} of instances)"
        )
    if "hessian_psd" in r:
        verdict += (
            f"; H PSD on {r['hessian_psd']:.0%}, <yhat, g_hat> > 0 on "
            f"{r['yhat_dot_ghat_positive']:.0%}"
        )
        if r["violated"]:
            verdict += f" ({r['violated_when_yhat_dot_ghat_positive']} violations among those)"
    return verdict


def lemma_4_5_rows(instances: int, seed: int = 0) -> dict:
    keys = jax.random.split(jax.random.key(seed), instances)
    out = jax.jit(jax.vmap(lemma_4_5), compiler_options=run_once())(keys)
    v, _ = _violations(out, "==", "lhs", "rhs")
    r = {
        "statement": "Lemma 4.5",
        "form": "closest optimum on the ray {a W*}, <W0, W*> > 0",
        "relation": "==",
        "instances": instances,
        "max_violation": float(v.max()),
        "min_slack": None,
        "violated": int((v > TOLERANCE).sum()),
        "worst": None,
    }
    r["verdict"] = _verdict(r)
    return r


def check_all(instances: int = 1000, seed: int = 0, batch_sizes=BATCH_SIZES) -> list[dict]:
    """Every statement on `instances` random instances each (call under enable_x64)."""
    return run_statements(STATEMENTS, instances, seed, batch_sizes) + [
        lemma_4_5_rows(instances, seed)
    ]


def check_all_in_float64(instances: int = 1000, seed: int = 0, batch_sizes=BATCH_SIZES):
    """`check_all` under float64 (what the suite's worker process runs)."""
    with jax.enable_x64(True):
        return check_all(instances, seed, batch_sizes)
