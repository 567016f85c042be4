"""Nuisance parameters of the likelihood model, one small module per kind (as pyhf's modifiers).

Each modifier has a ``name`` and, for a value α of its parameter, a factor η_c(α) on the
expected events of the components it acts on, optional per-event factors r_c(x_e|α), and its
constraint term log π(α) (:class:`madsbi.inference.model.Modifier`). For the profile over α
(:mod:`madsbi.inference.profile`) each also gives these terms vectorised over α with their
first and second derivatives (:class:`madsbi.inference.profile.ProfiledModifier`):

- :class:`Normalisation`: a log-normal uncertainty on the normalisation of some components
  (luminosity, a cross-section, a background normalisation), η = (1 + σ)^α, π = N(0, 1);
- :class:`EventShape`: per-event factors r(x_e|±1) and acceptance factors η(±1) of one
  component, interpolated per event (polynomial inside ±1σ, exponential outside,
  :mod:`.interpolation`), π = N(0, 1);
- :class:`LearnedShape`: an :class:`EventShape` whose factors a learned ratio
  x → log r(x|±1) gives (detector variations learned from paired events).
"""

from __future__ import annotations

from madsbi.inference.modifiers.learned import LearnedShape
from madsbi.inference.modifiers.normalisation import Normalisation
from madsbi.inference.modifiers.shape import EventShape

__all__ = ["EventShape", "LearnedShape", "Normalisation"]
