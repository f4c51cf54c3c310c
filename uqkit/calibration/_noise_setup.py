"""The parameters of a noise model: which are inferred, their priors, and who shares them.

Run by :func:`build_problem` before any model run: it checks the data against
the likelihood, groups the observed columns for inferred scales (one shared
scale by default), refuses scales with fewer than 3 observations, and picks
each noise parameter's prior (the ``prior`` Parameters, then the noise
model's ``prior``, then the noise model's documented default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from ..distributions import Distribution, as_distribution
from ..models._protocol import output_groups
from ._likelihood import Likelihood
from ._noise import NoiseModel

__all__ = ["NoiseSetup", "noise_setup", "MIN_OBSERVATIONS"]

MIN_OBSERVATIONS = 3  # observations needed per inferred scale or dispersion


@dataclass(frozen=True)
class NoiseSetup:
    """Noise parameters to add to the posterior, and how the likelihood reads them."""

    distributions: dict[str, Distribution]  # inferred noise parameters not in the prior
    names: tuple[str, ...]                  # every noise parameter, in posterior order
    column_names: np.ndarray | None         # (k,) parameter name per observed column
    fixed: np.ndarray | None                # (k,) known value per observed column


def noise_setup(noise: NoiseModel, prior: Any, inputs: tuple[str, ...],
                col_names: list[str], obs: np.ndarray, mask: np.ndarray) -> NoiseSetup:
    """Validate ``noise`` against the observed columns and assemble its parameters."""
    noise._check_data(obs)
    if isinstance(noise, Likelihood):
        return _likelihood_setup(noise, prior, inputs)
    if noise._param is None:
        return NoiseSetup({}, (), None, None)
    if not noise.infers_sigma:
        return NoiseSetup({}, (), None, _fixed_values(noise, col_names))
    groups = _groups(noise, col_names)
    param = noise._param
    names_by_group = ({g: param for g in groups} if len(groups) == 1
                      else {g: f"{param}_{g}" for g in groups})
    clash = [n for n in names_by_group.values() if n in inputs]
    if clash:
        raise InvalidParameterError(
            f"The inferred noise parameter {clash[0]!r} of {type(noise).__name__} has the name "
            f"of a model input. Rename the model input, or name the noise groups explicitly "
            f"(groups={{'obs': [...]}} gives {param}_obs).")
    dists: dict[str, Distribution] = {}
    column_names = np.empty(len(col_names), dtype=object)
    for g, idx in groups.items():
        name = names_by_group[g]
        column_names[idx] = name
        n_obs = int(mask[:, idx].sum())
        if n_obs < MIN_OBSERVATIONS:
            _too_few(noise, name, [col_names[i] for i in idx], n_obs, len(groups))
        if name in prior.names:
            continue
        d = noise.prior.get(name, noise.prior.get(g)) if isinstance(noise.prior, Mapping) \
            else noise.prior
        if d is None:
            d = noise._default_prior(obs[:, idx])
        dists[name] = as_distribution(d, name=name)
    for name in dict.fromkeys(names_by_group.values()):
        d = prior[name] if name in prior.names else dists[name]
        if d.support[0] < 0:
            raise InvalidParameterError(
                f"The prior of the noise parameter {name!r} must have non-negative support. "
                f"Got {d!r} instead. Use e.g. uqkit.LogUniform or a half-normal "
                "(uqkit.TruncatedNormal(0, s, low=0)).")
    return NoiseSetup(dists, tuple(dict.fromkeys(names_by_group.values())), column_names, None)


def _too_few(noise: NoiseModel, name: str, outputs: list[str], n_obs: int,
             n_groups: int) -> None:
    cls = type(noise).__name__
    param = noise._param
    pool = (f"share one {param} across outputs (groups=None, the default, or an explicit "
            "groups={...} mapping), " if n_groups > 1 else "")
    raise InvalidParameterError(
        f"The noise parameter {name!r} of {cls}({param}='infer') would be inferred from "
        f"{n_obs} observation(s) (outputs {outputs[:6]}); at least {MIN_OBSERVATIONS} are "
        f"needed to identify it. Give {param} as a known number ({cls}({param}=...)), {pool}"
        "or observe more values (replicates as rows of data).")


def _groups(noise: NoiseModel, col_names: list[str]) -> dict[str, list[int]]:
    """Observed column indices per group of the noise model."""
    spec = noise.groups
    cls = type(noise).__name__
    if spec is None:
        return {"": list(range(len(col_names)))}
    vector = output_groups(col_names)
    if spec == "output":
        return vector
    groups: dict[str, list[int]] = {}
    seen: dict[int, str] = {}
    for g, members in spec.items():
        idx: list[int] = []
        for m in members:
            if m in col_names:
                cols = [col_names.index(m)]
            elif m in vector:
                cols = vector[m]
            else:
                raise InvalidParameterError(
                    f"The 'groups' parameter of {cls} names {m!r} (group {g!r}), which is not an "
                    f"observed output. Observed: {col_names[:10]}.")
            for c in cols:
                if c in seen:
                    raise InvalidParameterError(
                        f"The 'groups' parameter of {cls} puts output {col_names[c]!r} in two "
                        f"groups ({seen[c]!r} and {g!r}). Put every output in one group.")
                seen[c] = g
            idx.extend(cols)
        groups[g] = sorted(idx)
    lacking = [col_names[c] for c in range(len(col_names)) if c not in seen]
    if lacking:
        raise InvalidParameterError(
            f"The 'groups' parameter of {cls} must put every observed output in a group. Got "
            f"no group for {lacking[:10]}. Add them to a group (or drop them from data).")
    return groups


def _fixed_values(noise: NoiseModel, col_names: list[str]) -> np.ndarray:
    """A known scale (or dispersion) per observed column."""
    s = noise._value
    cls, param = type(noise).__name__, noise._param
    k = len(col_names)
    if isinstance(s, float):
        return np.full(k, s)
    if isinstance(s, dict):
        vector = output_groups(col_names)
        unknown = [key for key in s if key not in col_names and key not in vector]
        if unknown:
            raise InvalidParameterError(
                f"The '{param}' of {cls} names outputs that are not observed: {unknown}. "
                f"Observed: {col_names}.")
        out = np.full(k, np.nan)
        for key, v in s.items():
            out[vector[key] if key in vector else [col_names.index(key)]] = v
        if np.any(np.isnan(out)):
            lacking = [col_names[i] for i in np.flatnonzero(np.isnan(out))]
            raise InvalidParameterError(
                f"The '{param}' of {cls} must give a value for every observed output. Got none "
                f"for {lacking}.")
        return out
    return np.asarray(s, float)  # a tuple: its length is checked by build_problem


def _likelihood_setup(noise: Likelihood, prior: Any, inputs: tuple[str, ...]) -> NoiseSetup:
    names = noise.names
    clash = [n for n in names if n in inputs]
    if clash:
        raise InvalidParameterError(
            f"The parameters of the Likelihood must not be model inputs. Got {clash}, which the "
            "model takes as inputs; rename the likelihood's parameters.")
    dists = {n: noise.parameters[n] for n in names if n not in prior.names}
    return NoiseSetup(dists, names, None, None)
