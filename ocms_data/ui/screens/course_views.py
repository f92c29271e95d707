"""Language Training courses: find and create courses, edit a course's setup (the iCARE Course Setup record)."""

from __future__ import annotations

import streamlit as st

from ocms_data import courses, reference
from ocms_data.accounts import Actor
from ocms_data.courses import CourseRecord
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md

PAGE = "pages/courses.py"
NEW = "co.new"


def open_course(course_id: int) -> None:
    st.switch_page(PAGE, query_params={"course": str(course_id)})


def course_list(db: Database, actor: Actor) -> None:
    """Every course of the agency with how much iCARE still needs; open one, or create a new one."""
    # open while it holds refused fields: the "nothing was saved" notice above it would otherwise reset it
    refused = forms.field_errors(NEW)
    with st.expander("Create a course", expanded=bool(refused), key=f"{NEW}.fold.{refused.round}"):
        form = courses.course_form()
        n = st.session_state.get(f"{NEW}.n", 0)
        ctx = FormContext(f"{NEW}.{n}", {}, refused)
        forms.seed(ctx, form.fields, {})  # empty to start with (a number box would otherwise show its minimum)
        values: dict = {}
        forms.section_box(form.section("course"), ctx, values, {})
        if st.button("Create course", type="primary", key=f"{NEW}.go"):
            try:
                course_id = courses.create(db, actor, values)
            except ValidationError as exc:
                forms.refuse(NEW, exc)
            st.session_state.pop(forms.errors_key(NEW), None)
            st.session_state[f"{NEW}.n"] = n + 1
            notify(f"Created {md(values.get('name'))}: now fill in its setup for iCARE.")
            open_course(course_id)
    text = st.text_input("Find a course by name or code", key="co.q")
    found = courses.find(db, actor, text)
    if not found:
        st.info("No course matches.")
        return
    for c in found:
        cols = st.columns([4, 2, 3, 3], vertical_alignment="center")
        cols[0].markdown(f"**{md(c['name'])}** · {md(c['course_code'] or 'no code yet')}")
        cols[1].caption(f"{c['start_date'] or '?'} to {c['end_date'] or '?'}")
        cols[2].markdown(
            ":green-background[Ready for iCARE]" if c["missing"] == 0 else f":orange-background[{c['missing']} missing]"
        )
        line = forms.row(cols[3])
        line.caption(f"{c['forms']} enrolment/exit form(s)", width="stretch")
        if line.button("Open", key=f"co.open.{c['id']}"):
            open_course(c["id"])


def course_editor(db: Database, actor: Actor, record: CourseRecord) -> None:
    """Every section of the course setup; missing iCARE fields are listed until it is ready."""
    st.title(md(record.values["name"]), anchor=False)
    if st.button("All courses", icon=":material/arrow_back:"):
        st.switch_page(PAGE)
    if record.complete:
        st.success("Ready for iCARE: the Course Setup row of this course is complete.")
    else:
        form = courses.course_form()
        missing = ", ".join(form.field(p["field"]).label for p in record.problems)
        st.warning(
            f"Missing for iCARE ({len(record.problems)}): {missing}. "
            "This course's enrolments and exits are held back until its setup is complete."
        )
    prefix = f"co.{record.id}"
    base = forms.editing_base(prefix, record)
    ctx = FormContext(prefix, reference.all_labels(db, actor), forms.field_errors(prefix))
    form = courses.course_form()
    forms.seed(ctx, form.fields, base.values)
    st.caption(forms.LEGEND)
    forms.shading()
    values: dict = {}
    forms.visible(form, ctx)
    for section in form.sections:  # what lacks nothing (optional details...) stays folded until wanted
        forms.section_box(section, ctx, values, {}, fold=True)
    changed, _ = forms.changes(form, base.values, values)
    forms.save_changes(
        prefix, len(changed), lambda: courses.update(db, actor, record.id, changed, base.version), "Course saved."
    )
