"""MadGraph5_aMC@NLO side of madsbi: the ``reweight=madsbi`` plugin and its tools.

The plugin shim MadGraph imports (:mod:`~madsbi.madgraph.plugin_shim`, installed by
:mod:`~madsbi.madgraph.install`, checked by :mod:`~madsbi.madgraph.doctor`), the
``ReweightInterface`` subclass (:mod:`~madsbi.madgraph.interface`), its settings
(:mod:`~madsbi.madgraph.settings`, :mod:`~madsbi.madgraph.plan`) and the pass over the events
(:mod:`~madsbi.madgraph.reweight`, :mod:`~madsbi.madgraph.matrix_element`,
:mod:`~madsbi.madgraph.lhe_weights`). Card parsing is :mod:`madsbi.cards`, below this package.
"""
