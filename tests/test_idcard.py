"""The 18-character resident ID number (GB 11643): shape, birth date, check character."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_kit.domain.idcard import (IdNumberError, check_character, make_id_number,
                                      parse_id_number)
from store_helpers import is_chinese

# Published examples whose check characters were computed by hand (ISO 7064 MOD 11-2).
KNOWN_VALID = [
    "11010519491231002X",  # the GB 11643 sample: check character X
    "110101199003074477",
    "110101199003077651",
]


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_valid_numbers_are_accepted(number):
    assert parse_id_number(number).number == number


def test_the_check_character_x_is_computed_for_remainder_two():
    assert check_character("11010519491231002") == "X"


def test_a_lower_case_x_is_accepted_and_stored_upper_case():
    assert parse_id_number("11010519491231002x").number == "11010519491231002X"


def test_surrounding_spaces_are_ignored():
    assert parse_id_number("  110101199003074477 ").number == "110101199003074477"


def test_birth_date_and_sex_are_read_from_the_number():
    info = parse_id_number("11010519491231002X")
    assert info.birth_date == dt.date(1949, 12, 31)
    assert info.sex == "female"  # 17th digit 2 is even
    assert parse_id_number("110101199003074477").sex == "male"  # 7 is odd


@pytest.mark.parametrize("number", [
    "110105194912310021",  # X expected
    "110101199003077650",
    "110101199003074478",
])
def test_a_wrong_check_character_is_refused(number):
    with pytest.raises(IdNumberError, match="校验位"):
        parse_id_number(number)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.integers(0, 999), st.integers(0, 16))
def test_changing_any_single_digit_breaks_the_check(birth, sequence, position):
    number = make_id_number("522731", birth, sequence)
    assert parse_id_number(number).birth_date == birth
    digits = list(number)
    digits[position] = str((int(digits[position]) + 1) % 10)
    changed = "".join(digits)
    with pytest.raises(IdNumberError):
        parse_id_number(changed)


@pytest.mark.parametrize("number", [
    "",
    "11010119900307447",  # 17 characters
    "1101011990030744771",  # 19 characters
    "110101900307447",  # the old 15-digit form
    "11010519491231002Y",
    "X10101199003074477",  # X anywhere but last
    "1101011990030744A7",
    "11010119900307 4477",
])
def test_a_wrong_length_or_shape_is_refused(number):
    with pytest.raises(IdNumberError, match="18位"):
        parse_id_number(number)


@pytest.mark.parametrize("birth", [
    "19900230",  # 30 February
    "19901301",  # month 13
    "19900001",  # month 0
    "19900100",  # day 0
    "19000229",  # 1900 was not a leap year
    "19900431",  # 31 April
])
def test_an_impossible_birth_date_is_refused(birth):
    first17 = f"522731{birth}011"
    with pytest.raises(IdNumberError, match="出生日期"):
        parse_id_number(first17 + check_character(first17))


def test_29_february_of_a_leap_year_is_a_birth_date():
    assert parse_id_number(make_id_number("522731", dt.date(2000, 2, 29), 11)).birth_date == \
        dt.date(2000, 2, 29)


def test_a_birth_before_1900_is_refused():
    first17 = "52273118991231011"
    with pytest.raises(IdNumberError, match="出生日期不合理"):
        parse_id_number(first17 + check_character(first17))


def test_a_birth_after_today_is_refused_when_today_is_given():
    number = make_id_number("522731", dt.date(2026, 3, 2), 11)
    with pytest.raises(IdNumberError, match="出生日期不合理"):
        parse_id_number(number, today=dt.date(2026, 3, 1))
    assert parse_id_number(number, today=dt.date(2026, 3, 2)).birth_date == dt.date(2026, 3, 2)


@pytest.mark.parametrize("number", ["1", "522731199002300110", "110105194912310021"])
def test_every_error_message_is_chinese(number):
    with pytest.raises(IdNumberError) as caught:
        parse_id_number(number)
    assert is_chinese(str(caught.value))
