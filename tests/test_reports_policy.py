"""Policy parameters: the brief's figures by default, a locality's file over them, rules in
force only inside their periods, and clear refusals of a bad file."""

from __future__ import annotations

import datetime as dt

import pytest

from server.reporting.policy import PolicyError, load_policy


def write(tmp_path, text):
    path = tmp_path / "local.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_are_the_provincial_figures_until_the_end_of_2025():
    policy = load_policy()
    assert (policy.effective_from, policy.effective_to) == (dt.date(2021, 1, 1),
                                                            dt.date(2025, 12, 31))
    amounts = {name: dict(rule.periods[0].amounts) for name, rule in policy.rules.items()}
    assert amounts == {"transport": {"amount": 500},
                       "job_seeking": {"in_province": 500, "out_province": 1000},
                       "follow_up": {"amount": 500}, "absorption": {"amount": 500},
                       "training_living": {"per_day": 40}}
    assert policy.rule("transport").settings["min_months"] == 3
    assert policy.early_warning_days == 30


def test_a_rule_is_in_force_on_its_last_day_and_not_the_day_after():
    rule = load_policy().rule("training_living")
    assert rule.period_on(dt.date(2025, 12, 31)) is not None
    assert rule.period_on(dt.date(2026, 1, 1)) is None
    assert rule.period_on(dt.date(2020, 12, 31)) is None


def test_a_locality_overrides_what_it_names_and_keeps_the_rest(tmp_path):
    policy = load_policy(write(tmp_path, "[policy]\neffective_to = 2026-12-31\n"
                                         "[rules.transport]\nperiods = [{ amount = 300 }]\n"))
    transport = policy.rule("transport")
    assert (transport.periods[0].end, transport.periods[0].amounts["amount"]) == \
        (dt.date(2026, 12, 31), 300)
    assert transport.settings["min_months"] == 3  # not named: the default stays
    assert policy.rule("follow_up").period_on(dt.date(2026, 6, 1)) is not None
    assert len(policy.sources) == 2


@pytest.mark.parametrize("text,problem", [
    ("[rules.transport]\namout = 500\n", "amout"),
    ("[rules.transport]\nperiods = [{ amount = -1 }]\n", "amount"),
    ("[rules.transport]\nperiods = []\n", "periods"),
    ("[rules.transport]\nperiods = [{ from = 2025-01-01, to = 2024-01-01, amount = 1 }]\n",
     "结束日期"),
    ("[rules.transport]\nperiods = [{ to = 2025-06-30, amount = 1 }, "
     "{ from = 2025-06-30, amount = 2 }]\n", "重叠"),
    ("[rules.absorption]\nwork_kinds = [\"mining\"]\n", "work_kinds"),
    ("[rules.bonus]\nperiods = [{ amount = 1 }]\n", "bonus"),
    ("[policy]\neffective_to = \"someday\"\n", "effective_to"),
    ("[early_warning]\ndays = 0\n", "days"),
    ("[policy\n", "格式错误"),
])
def test_a_bad_locality_file_is_refused_with_the_value_named(tmp_path, text, problem):
    with pytest.raises(PolicyError, match=problem):
        load_policy(write(tmp_path, text))


def test_a_missing_locality_file_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="无法读取"):
        load_policy(tmp_path / "none.toml")


def test_a_relative_policy_file_is_found_in_the_instance_folder(tmp_path):
    from server.reporting.policy import configured_policy

    write(tmp_path, "[early_warning]\ndays = 7\n")
    assert configured_policy("local.toml", str(tmp_path)).early_warning_days == 7
    assert configured_policy(None, str(tmp_path)).early_warning_days == 30


def test_the_policy_ends_on_its_last_day_and_the_report_day_after_says_so():
    """政策执行期限截止2025年12月31日 (the text's last paragraph): [policy] effective_to.
    Hand check: on 2025-12-31 no notice; on 2026-01-01 a notice naming 2025-12-31 and the key
    `[policy] effective_to`."""
    policy = load_policy()
    assert policy.last_day == dt.date(2025, 12, 31)
    assert policy.end_notice(dt.date(2025, 12, 31)) is None
    notice = policy.end_notice(dt.date(2026, 1, 1))
    assert notice is not None
    assert (notice["last_day"], notice["key"]) == ("2025-12-31", "[policy] effective_to")
    assert "2026-01-01" in notice["message"] and "[policy] effective_to" in notice["message"]


def test_a_rule_period_beyond_the_policy_moves_its_end(tmp_path):
    """A county renews the training subsidy to 2026-06-30: anything in force to then, so the
    notice starts on 2026-07-01."""
    policy = load_policy(write(tmp_path, "[rules.training_living]\nperiods = [{ per_day = 40 }, "
                               "{ from = 2026-01-01, to = 2026-06-30, per_day = 50 }]\n"))
    assert policy.last_day == dt.date(2026, 6, 30)
    assert policy.end_notice(dt.date(2026, 6, 30)) is None
    assert policy.end_notice(dt.date(2026, 7, 1)) is not None


@pytest.mark.parametrize("today,offered", [
    ("2026-12-03", "2025-12-31"),  # after the end: its last day
    ("2025-12-31", "2025-12-31"),  # in force: today
    ("2023-05-10", "2023-05-10"),
    ("2020-12-31", "2021-01-01"),  # before the start: its first day
])
def test_the_report_form_offers_a_day_in_force(today, offered):
    assert load_policy().default_day(dt.date.fromisoformat(today)) == \
        dt.date.fromisoformat(offered)
