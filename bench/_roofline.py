"""The matmuls of one gradient step as XLA runs them, and how long they take alone at their shapes.

`count_matmuls(hlo)` reads the optimised HLO of one update (`tether.algos.engine.update_hlo`): every
`dot` (or cuBLAS gemm call on a GPU) with its operand shapes, and how often it runs per step. A while
loop multiplies by its known trip count; the branches of a conditional count as equally frequent
(TD3+BC's delayed actor, updated every second step by default, is the one conditional in the
learners). Reading the optimised HLO rather than the program as written matters: XLA removes repeated
computations (IQL evaluates its target critic twice on the same batch; it runs once). `time_matmul`
times each distinct matmul alone, in a compiled loop of itself, on this machine.

For a measured rate of S steps/s this gives two rooflines:
- share of the matmul peak: matmul FLOP/step x S / (the rate of a large square matmul);
- share of its own matmuls' time: (seconds the step's matmuls take alone at their shapes) x S. It is
  1.0 when everything but the matmuls (sampling, activations, Adam, target updates) costs nothing.
  The loop that times a matmul alone also adds a scalar to its left operand and sums its output (so
  the compiler cannot skip iterations), which makes thin matmuls look slightly slower alone than
  they are, and this share slightly higher.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\) -> .*\{$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.*)$")
_OPERATION = re.compile(r"([\w\-]+)\((.*?)\)(.*)$")
_CALLEE = re.compile(r"(?:calls|to_apply|body|condition|true_computation|false_computation)=%([\w.\-]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")
_TRIP_COUNT = re.compile(r'"known_trip_count":\{"n":"(\d+)"')
_HLO_DIMS = {key: re.compile(key + r"=\{([\d,]*)\}") for key in
             ("lhs_contracting_dims", "rhs_contracting_dims", "lhs_batch_dims", "rhs_batch_dims")}
_GEMM_DIMS = {key: re.compile(f'"{key}":\\[([^\\]]*)\\]') for key in
              ("lhs_contracting_dimensions", "rhs_contracting_dimensions", "lhs_batch_dimensions",
               "rhs_batch_dimensions")}


@dataclass(frozen=True)
class MatmulSite:
    """One distinct matmul: operand shapes and JAX dimension numbers `((lc, rc), (lb, rb))`."""

    lhs_shape: tuple[int, ...]
    rhs_shape: tuple[int, ...]
    dimension_numbers: tuple

    @property
    def flops(self) -> float:
        (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = self.dimension_numbers
        lhs_free = [d for i, d in enumerate(self.lhs_shape) if i not in lhs_contract + lhs_batch]
        rhs_free = [d for i, d in enumerate(self.rhs_shape) if i not in rhs_contract + rhs_batch]
        shared = [self.lhs_shape[i] for i in lhs_contract + lhs_batch]
        return 2.0 * float(np.prod(lhs_free + rhs_free + shared))


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in re.findall(r"\d+", text))


def _split_type(typed: str) -> tuple[str, str]:
    """`'f32[8,4]{1,0} dot(...)'` or `'(s32[], f32[4]) while(...)'` -> (type, operation)."""
    if not typed.startswith("("):
        return tuple(typed.split(" ", 1))
    depth = 0
    for end, char in enumerate(typed):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return typed[: end + 1], typed[end + 1:].strip()
    raise ValueError(f"unbalanced tuple type in HLO: {typed[:80]}")


def _parse(hlo: str):
    """`(sites, calls, entry)`: each computation's matmul sites, each computation's callees with how
    often each call runs, and the entry computation's name."""
    shapes: dict[str, tuple[int, ...]] = {}
    pending: dict[str, list] = {}
    calls: dict[str, list[tuple[str, float]]] = {}
    entry, current = None, None
    for line in hlo.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            current = header.group(1)
            pending[current], calls[current] = [], []
            entry = current if line.startswith("ENTRY") else entry
            continue
        match = _INSTRUCTION.match(line) if current else None
        if not match:
            continue
        name, typed = match.groups()
        shape, operation = _split_type(typed)
        if "[" in shape and not shape.startswith("("):
            shapes[name] = _dims(shape[shape.index("[") + 1:shape.index("]")])
        opcode, operands, rest = _OPERATION.match(operation).groups()
        patterns = (_HLO_DIMS if opcode == "dot" else
                    _GEMM_DIMS if opcode == "custom-call" and "gemm" in rest else None)
        if patterns:
            numbers = [_dims(found.group(1)) if (found := pattern.search(rest)) else ()
                       for pattern in patterns.values()]
            pending[current].append((re.findall(r"%([\w.\-]+)", operands)[:2], numbers))
        branches = _BRANCHES.search(rest)
        if branches:
            names = re.findall(r"%([\w.\-]+)", branches.group(1))
            calls[current] += [(callee, 1.0 / len(names)) for callee in names]
        trips = _TRIP_COUNT.search(rest)
        for callee in _CALLEE.findall(rest):
            calls[current].append((callee, float(trips.group(1)) if trips and opcode == "while" else 1.0))
    sites = {
        computation: [MatmulSite(shapes[lhs], shapes[rhs], ((lc, rc), (lb, rb)))
                      for (lhs, rhs), (lc, rc, lb, rb) in found]
        for computation, found in pending.items()}
    return sites, calls, entry


def count_matmuls(hlo: str) -> Counter:
    """`MatmulSite -> runs per execution` of the HLO module's entry computation."""
    sites, calls, entry = _parse(hlo)
    counts: Counter = Counter()

    def visit(computation: str, weight: float) -> None:
        for site in sites.get(computation, []):
            counts[site] += weight
        for callee, factor in calls.get(computation, []):
            visit(callee, weight * factor)

    visit(entry, 1.0)
    return counts


def time_matmul(site: MatmulSite, target_seconds: float = 0.1) -> float:
    """Seconds of one run of `site` alone (float32): the best of 3 timings of a compiled loop of it."""
    lhs = jnp.full(site.lhs_shape, 0.01, jnp.float32)
    rhs = jnp.full(site.rhs_shape, 0.01, jnp.float32)

    def loop(n: int) -> float:
        @jax.jit
        def run(lhs_arg, rhs_arg):
            def body(carry, _):
                out = jax.lax.dot_general(lhs_arg + carry, rhs_arg, site.dimension_numbers)
                return carry + 1e-30 * jnp.sum(out), None

            return jax.lax.scan(body, jnp.zeros((), jnp.float32), None, length=n)[0]

        run(lhs, rhs).block_until_ready()
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            run(lhs, rhs).block_until_ready()
            best = min(best, time.perf_counter() - start)
        return best / n

    estimate = loop(16)
    return loop(int(np.clip(target_seconds / max(estimate, 1e-9), 16, 100_000)))


@dataclass(frozen=True)
class MatmulProfile:
    """The matmuls of one step: runs per step and seconds per run alone."""

    counts: dict[MatmulSite, float]
    seconds: dict[MatmulSite, float]

    @property
    def flops_per_step(self) -> float:
        return sum(site.flops * count for site, count in self.counts.items())

    @property
    def seconds_per_step(self) -> float:
        return sum(self.seconds[site] * count for site, count in self.counts.items())


def matmul_profile(hlo: str) -> MatmulProfile:
    """Count the matmuls of one step and time each distinct one alone, on JAX's default device."""
    counts = dict(count_matmuls(hlo))
    return MatmulProfile(counts, {site: time_matmul(site) for site in counts})
