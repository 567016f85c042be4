"""Generative networks with uncertainties: the Bayesian invertible network (bellagente2022).

- :mod:`~madsbi.generative.coupling`, :mod:`~madsbi.generative.inn`: affine coupling blocks
  (eq. 5–7) and the invertible network with density and sampling;
- :mod:`~madsbi.generative.binn`: ML (eq. 8) and ELBO (eq. 16) training, checkpoints;
- :mod:`~madsbi.generative.densities`: p(x), σ_pred(x) from weight draws (eq. 32),
  marginalised distributions (Sec. 3.5), generated events with σ_pred/p (eq. 2);
- :mod:`~madsbi.generative.fits`: the fit-like reading of σ_pred (eq. 23, 27, 31);
- :mod:`~madsbi.generative.toys`, :mod:`~madsbi.generative.drell_yan`: the data sets;
- :mod:`~madsbi.generative.store`: ``/generated`` in the event store.

Importing this package imports torch (the network modules); ``madsbi`` itself does not.
"""
