"""The taxonomy file and the profile rule of docs/design.md, against hand-computed cases."""

import numpy as np
import pytest

from alignx.taxonomy import N_DIMENSIONS, load_taxonomy, profile, render_profile, validate_direction

from conftest import SHARED_DATA


def neutral(**set_values):
    d = np.full(N_DIMENSIONS, 0.5)
    for k, v in set_values.items():
        d[int(k[1:])] = v
    return d


def test_taxonomy_has_90_dimensions_in_five_groups():
    tax = load_taxonomy()
    assert len(tax) == 90
    assert [d.index for d in tax] == list(range(90))
    sizes = {g: len(tax.group(g)) for g in {d.group for d in tax}}
    assert sizes == {
        "Demographics & Dispositional Traits": 7,
        "Core Psychological Needs": 21,
        "Work & Life Style": 12,
        "Content Quality & Response Evaluation Criteria": 7,
        "Interests": 43,
    }
    assert tax[1].label_1 == "Female" and tax[1].label_0 == "Male"
    assert tax.find("harmlessness").index == 40
    assert tax.find("concise").index == 16
    with pytest.raises(KeyError):
        tax.find("concerned")  # many matches


def test_taxonomy_copy_matches_shared_reference(shared_data):
    reference = (SHARED_DATA.parent / "taxonomy" / "alignx_dimensions.tsv").read_text()
    from alignx.taxonomy import TAXONOMY_FILE

    assert TAXONOMY_FILE.read_text() == reference


def test_profile_thresholds_hand_computed():
    # dim 0: 1,1,0,1,1 -> 0.8 -> 1 ; dim 1: 0,0,1,0,0.5 -> 0.3 -> 0 ; dim 2: 1,0,1,0,1 -> 0.6 -> 1 (inclusive)
    # dim 3: 0,1,0,1,0 -> 0.4 -> 0 (inclusive) ; dim 4: 1,0,0.5,0.5,1 -> 0.6 -> 1 ; dim 5: 1,0,1,0,0.5 -> 0.5 -> 0.5
    rows = np.full((5, N_DIMENSIONS), 0.5)
    rows[:, 0] = [1, 1, 0, 1, 1]
    rows[:, 1] = [0, 0, 1, 0, 0.5]
    rows[:, 2] = [1, 0, 1, 0, 1]
    rows[:, 3] = [0, 1, 0, 1, 0]
    rows[:, 4] = [1, 0, 0.5, 0.5, 1]
    rows[:, 5] = [1, 0, 1, 0, 0.5]
    p = profile(rows)
    assert list(p[:6]) == [1, 0, 1, 0, 1, 0.5]
    assert (p[6:] == 0.5).all()


def test_profile_threshold_is_inclusive_despite_float_noise():
    # (1 + 1 + 1 + 0 + 0) / 5 = 0.6 on paper; in floats the mean can land a hair below it
    rows = np.full((5, N_DIMENSIONS), 0.5)
    rows[:, 7] = [1, 1, 1, 0, 0]
    rows[:, 8] = [0.5, 1, 0.5, 0, 0]  # 0.4 -> 0
    p = profile(rows)
    assert p[7] == 1.0 and p[8] == 0.0


def test_profile_fallback_keeps_most_extreme_dimension():
    rows = np.full((8, N_DIMENSIONS), 0.5)
    rows[:, 10] = [1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # 0.5625, |d| = 0.0625
    rows[:, 20] = [0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 1]  # 0.4375, |d| = 0.0625: a tie
    rows[:, 30] = [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # 0.4375 too
    p = profile(rows)
    assert p[10] == 1.0 and (np.delete(p, 10) == 0.5).all()  # ties: lowest index
    rows = np.full((20, N_DIMENSIONS), 0.5)
    rows[:, 10] = [1] + [0.5] * 19  # 0.525, |d| = 0.025
    rows[:, 20] = [0, 0, 0, 0, 1] + [0.5] * 15  # 0.425, |d| = 0.075: the most extreme, kept on its side
    p = profile(rows)
    assert p[20] == 0.0 and (np.delete(p, 20) == 0.5).all()


def test_profile_with_no_signal_stays_neutral():
    assert (profile(np.full((3, N_DIMENSIONS), 0.5)) == 0.5).all()


def test_render_profile_uses_pole_labels_in_order():
    tax = load_taxonomy()
    text = render_profile(neutral(d1=0, d0=1, d16=1), tax)
    assert text == "Young, Male, Concise communication style"
    assert render_profile(neutral()) == ""


@pytest.mark.parametrize("bad", [np.full(89, 0.5), np.full(90, 0.3)])
def test_validate_direction_rejects_bad_vectors(bad):
    with pytest.raises(ValueError):
        validate_direction(bad)


def test_profile_rejects_wrong_shape():
    with pytest.raises(ValueError):
        profile(np.full((2, 10), 0.5))
