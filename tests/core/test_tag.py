"""PS3.5 §7.1: tags."""

import pytest

from dicomkit import Tag


def test_tag_from_int_pair_keyword_and_text_are_equal():
    assert Tag(0x00100010) == Tag(0x0010, 0x0010) == Tag("PatientName") == Tag("(0010,0010)")
    assert Tag("0010,0010") == 0x00100010


def test_tag_group_element_and_str():
    tag = Tag(0x7FE00010)
    assert (tag.group, tag.element) == (0x7FE0, 0x0010)
    assert str(tag) == "(7FE0,0010)"
    assert tag.keyword == "PixelData"


def test_private_tags_are_odd_groups_and_creators_reserve_blocks():
    assert Tag(0x00291010).is_private
    assert not Tag(0x00291010).is_private_creator
    assert Tag(0x00290010).is_private_creator
    assert not Tag(0x00080010).is_private


def test_unknown_keyword_is_refused():
    with pytest.raises(ValueError):
        Tag("NotAKeyword")
