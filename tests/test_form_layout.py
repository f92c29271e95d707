"""Long forms that read well: messages that go once fixed, folded sections with what they lack, sub-items.

Driven through the real app shell with AppTest on a copy of the two-agency demo database.
"""

from __future__ import annotations

import pytest

from ocms_data import sessions
from ocms_data.ui import runtime
from tests.apptest_helpers import actor, click, goto, message_at, ok, start, values
from tests.test_session_pages import IO, free_clients, new_session

REG = "reg.Named"


@pytest.fixture
def worker(app_db):
    return actor("worker.aaa")


def open_register():
    at = goto(start("worker.aaa"), "register_client")
    at.selectbox(key=f"{REG}.privacy_ack").select("Yes")
    return ok(at.run())


def expander_titles(at) -> list[str]:
    return [e.label for e in at.expander]


def io_form(db, who):
    cid = free_clients(db, 1)[0]
    sid = new_session(db, who, [cid])
    return sessions.add_form(db, who, sid, cid, IO)


def stored(fid: int, *names: str) -> tuple:
    rec = sessions.get_form(runtime.database(), actor("worker.aaa"), fid)
    return tuple(rec.values[n] for n in names)


# --- Field messages ------------------------------------------------------------------------------


def test_a_field_message_goes_once_the_field_is_changed(app_db):
    at = click(open_register(), key=f"{REG}.go")
    assert message_at(at, f"{REG}.first_name") == "First name is required."
    at.text_input(key=f"{REG}.first_name").input("Zora")
    ok(at.run())
    assert message_at(at, f"{REG}.first_name") is None
    assert message_at(at, f"{REG}.last_name") == "Last name is required."  # not fixed yet: still there


def test_the_refused_summary_links_to_each_field(app_db):
    at = click(open_register(), key=f"{REG}.go")
    summary = values(at.error)[0]
    assert "- [Last name is required.](#f-last-name)" in summary
    anchors = [h.proto.body for h in at.get("html") if 'id="f-last-name"' in h.proto.body]
    assert anchors, "the link has a target next to the field"


# --- Sections fold and say what they lack ---------------------------------------------------------


def test_registration_sections_fold_and_count_what_they_lack(app_db):
    at = open_register()
    titles = expander_titles(at)
    primary = next(t for t in titles if t.startswith("About your client"))
    assert primary.endswith(" · 3 required to save, 2 required for iCARE")  # first, last name, gender; birth...
    contact = next(t for t in titles if t.startswith("Contact information"))
    assert "1 required to save" in contact  # the postal code
    at.text_input(key=f"{REG}.first_name").input("Zora")
    ok(at.run())
    again = next(t for t in expander_titles(at) if t.startswith("About your client"))
    assert " · 2 required to save, 2 required for iCARE" in again
    by_title = {e.label: e for e in at.expander}
    assert by_title[again].proto.expanded  # it still lacks something: open
    housing = next(e for e in at.expander if e.label.startswith("Housing"))
    assert housing.label == "Housing" and not housing.proto.expanded  # lacks nothing: folded


# --- Service forms: sub-items, tick boxes, tables -----------------------------------------------


def test_io_sub_items_show_only_when_their_parent_calls_for_them(app_db, worker):
    fid = io_form(app_db, worker)
    p = f"sf.{fid}"
    at = goto(start("worker.aaa"), "service_form", form=fid)
    ticks = {c.key for c in at.checkbox}
    assert f"{p}.tg_children" not in ticks and f"{p}.childminding" not in ticks
    assert f"{p}.topic_housing" in ticks and f"{p}.topic_housing_referral" in ticks  # the topics table
    at.selectbox(key=f"{p}.target_group").select("Yes")
    at.selectbox(key=f"{p}.support_received").select("Yes")
    ok(at.run())
    ticks = {c.key for c in at.checkbox}
    assert {f"{p}.tg_children", f"{p}.childminding", f"{p}.translation"} <= ticks
    assert f"{p}.child1_age" not in {s.key for s in at.selectbox}
    at.checkbox(key=f"{p}.childminding").check()
    ok(at.run())
    child = at.selectbox(key=f"{p}.child1_age")
    assert child.label == "Child 1: Age" and child.proto.label_visibility.value == 2  # collapsed in the table


def test_topic_ticks_save_yes_and_leave_the_rest_unanswered(app_db, worker):
    fid = io_form(app_db, worker)
    p = f"sf.{fid}"
    at = goto(start("worker.aaa"), "service_form", form=fid)
    at.checkbox(key=f"{p}.topic_housing").check()
    ok(at.run())
    assert at.button(key=f"{p}.save").label == "Save 1 change(s)"
    click(at, key=f"{p}.save")
    assert stored(fid, "topic_housing", "topic_health") == ("Yes", None)
    at.checkbox(key=f"{p}.topic_housing").uncheck()
    ok(at.run())
    click(at, key=f"{p}.save")
    assert stored(fid, "topic_housing", "topic_health") == ("No", None)


def test_a_hidden_sub_item_is_cleared_when_its_parent_turns_no(app_db, worker):
    fid = io_form(app_db, worker)
    p = f"sf.{fid}"
    version = sessions.get_form(app_db, worker, fid).version
    sessions.save_form(app_db, worker, fid, {"target_group": "Yes", "tg_youth": "Yes"}, version)
    at = goto(start("worker.aaa"), "service_form", form=fid)
    assert at.checkbox(key=f"{p}.tg_youth").value is True
    at.selectbox(key=f"{p}.target_group").select("No")
    ok(at.run())
    assert f"{p}.tg_youth" not in {c.key for c in at.checkbox}
    assert at.button(key=f"{p}.save").label == "Save 2 change(s)"  # the parent, and its cleared sub-item
    click(at, key=f"{p}.save")
    assert stored(fid, "target_group", "tg_youth") == ("No", None)


def test_noc_choices_read_in_full_and_store_the_official_value(app_db):
    at = open_register()
    box = at.selectbox(key=f"{REG}.current_noc")
    assert "06 Middle management occupations in retail and wholesale trade and customer services" in box.options
    box.select("06 Middle management occupations in retail and wholesale trade and customer serv")
    ok(at.run())
    assert at.selectbox(key=f"{REG}.current_noc").value.endswith("customer serv")  # what iCARE's list holds


def test_change_history_reads_in_plain_words(app_db, worker):
    from ocms_data import clients

    cid = free_clients(app_db, 1)[0]
    rec = clients.get(app_db, worker, cid)
    clients.update(app_db, worker, cid, {"city": "Ottawa"}, rec.version)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    history = at.dataframe[0].value
    assert list(history.columns) == ["When", "Who", "What", "Details"]
    latest = history.iloc[0]
    assert latest["What"] == "Changed" and latest["Who"] == worker.full_name
    assert latest["Details"] == f"City: {rec.values['city'] or '(empty)'} → Ottawa"
    assert not any("{" in str(v) or "_" in str(v) for v in history["Details"])


def test_an_old_answer_under_an_unchanged_parent_is_left_alone(app_db, worker):
    """A record saved before sub-items hid (a sub-item answered under a No) opens with nothing to save."""
    fid = io_form(app_db, worker)
    p = f"sf.{fid}"
    version = sessions.get_form(app_db, worker, fid).version
    sessions.save_form(app_db, worker, fid, {"target_group": "No", "tg_youth": "Yes"}, version)
    at = goto(start("worker.aaa"), "service_form", form=fid)
    assert f"{p}.tg_youth" not in {c.key for c in at.checkbox}
    assert at.button(key=f"{p}.save").label == "No changes to save"
