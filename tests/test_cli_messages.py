"""One-line messages a newcomer meets first (issue 31, item 11)."""
import subprocess
import sys

import pytest

from tests.conftest import REPO
from wgan_repro.config import ConfigError, coerce
from wgan_repro.presets import config_from_dict


def test_a_misspelt_field_gets_a_did_you_mean():
    with pytest.raises(ConfigError, match=r"iteratons=3 is not allowed: unknown field \(did you mean iterations\?\)"):
        config_from_dict({"gp_weight": 10.0, "d_norm": "none"}, ["iteratons=3"])


def test_a_list_of_the_wrong_items_is_named_in_plain_english():
    with pytest.raises(ConfigError, match="seeds='a' is not allowed: must be a list of integers$"):
        coerce("seeds", "a", list, item=int)
    with pytest.raises(ConfigError, match=r"seeds\[1\]='b' is not allowed: must be an integer$"):
        coerce("seeds", [0, "b"], list, item=int)


def test_version():
    proc = subprocess.run([sys.executable, "-m", "wgan_repro.cli", "--version"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("wgan-repro ")
