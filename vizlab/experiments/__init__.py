"""``vizlab.experiments``: the lectures' claims, reproduced by real runs.

One function per curriculum row with a checkable fact. Each returns a :class:`Result` of
plain numbers that plots, panels, notebooks, tests and ``vizlab figures`` share. ``TOPICS``
maps each topic name to its function, curriculum rows, title and figure builder; every
topic's function is also an attribute of this package (``experiments.random_labels``).
"""

from vizlab.experiments import (  # noqa: F401  (importing registers the topics)
    augmentation,
    conv,
    depth,
    dropout,
    normalization,
    phenomena,
    regularization,
    residual,
)
from vizlab.experiments.base import SCALES, TOPICS, Result, Topic

__all__ = ["SCALES", "TOPICS", "Result", "Topic", "run", *TOPICS]

globals().update({name: topic.run for name, topic in TOPICS.items()})


def run(topic: str, **kwargs) -> Result:
    """Run the experiment registered as ``topic`` (see ``TOPICS``)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown experiment topic {topic!r}; available: {', '.join(TOPICS)}")
    return TOPICS[topic].run(**kwargs)
