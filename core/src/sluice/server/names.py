"""Readable generated names for flow runs, such as ``brave-otter``."""

from __future__ import annotations

import random

ADJECTIVES = (
    "agile", "amber", "ancient", "bold", "brave", "bright", "calm", "clever", "cosmic", "crimson",
    "curious", "daring", "dapper", "eager", "electric", "fancy", "fearless", "fierce", "gentle",
    "glowing", "golden", "graceful", "happy", "hidden", "humble", "icy", "jolly", "keen", "lively",
    "lucky", "mellow", "mighty", "misty", "nimble", "noble", "patient", "polite", "proud", "quick",
    "quiet", "rapid", "royal", "rustic", "shiny", "silent", "silver", "smart", "steady", "sturdy",
    "swift", "tidy", "tireless", "vivid", "warm", "wise", "witty", "zealous",
)  # fmt: skip
ANIMALS = (
    "albatross", "badger", "beaver", "bison", "cheetah", "condor", "coyote", "crane", "dingo", "dolphin",
    "eagle", "falcon", "ferret", "finch", "fox", "gazelle", "gecko", "heron", "hyena", "ibex", "jaguar",
    "kestrel", "koala", "lemur", "leopard", "lynx", "marmot", "marten", "mole", "moose", "narwhal",
    "ocelot", "orca", "osprey", "otter", "owl", "panda", "panther", "pelican", "puffin", "quail",
    "raven", "salmon", "seal", "sparrow", "stork", "swan", "tapir", "tiger", "toucan", "turtle",
    "walrus", "weasel", "whale", "wolf", "wombat", "yak", "zebra",
)  # fmt: skip


def generate_run_name() -> str:
    """A random ``adjective-animal`` name; not unique, only easy to read and say."""
    return f"{random.choice(ADJECTIVES)}-{random.choice(ANIMALS)}"
