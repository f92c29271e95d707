"""Random sequences of drafts, finals, voids, returned files and edits never send a record twice.

After every step: no record version is in two live final batches as sent/accepted; a record a live batch
holds is not among the next preview's good rows unless iCARE rejected it or it changed (service forms:
after acceptance; clients: after it was sent); the month's service rows are exactly the eligible services
no live batch holds; and an accepted record that comes back carries its iCARE record id as an amendment.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocms_data import clients, sessions
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare import batches, engine, workbook
from tests.conftest import actor, copy_database
from tests.test_icare_engine import CP, MONTH, SERVICE_TEMPLATES, execute, icare_state, sql, world_template

KEPT_FORMS = ("io", "nars", "attendee_io", "group_io")
REFERRALS = ("School", "Not referred", "Family / friends", "Internal to my organization")
REJECTED = "[BUID:9,RID:,ORP:{n}/{m}][1] (Client) Unable to validate against database."
ACCEPTED = "[BUID:9,RID:{rid},ORP:{n}/{m}]"
STEPS: Counter = Counter()  # what the sequences did (shown when the test fails)


@pytest.fixture(scope="module")
def property_world(tmp_path_factory):
    """Agency A with only I&O and NARS services (three templates to write), and its first preview."""
    template, _c = world_template(tmp_path_factory)
    base = tmp_path_factory.mktemp("property")
    path = base / "template.duckdb"
    copy_database(template, path)
    db = Database(path)
    marks = ", ".join(f"'{k}'" for k in KEPT_FORMS)
    execute(db, f"DELETE FROM service_forms WHERE form_type NOT IN ({marks})")
    run = engine.collect(db, actor(db, "uploader.aaa"), MONTH)
    db.close()
    return path, run, base


def _returned(data: bytes, details: dict[int, str]) -> bytes:
    """The file as iCARE sends it back: Processing Details written on some data rows (0 = first data row)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["iCARE Template"]
    for row, text in details.items():
        sheet.cell(4 + row, 1).value = text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class Month:
    """One agency's uploader and staff doing things to one month, on a fresh copy of the database."""

    def __init__(self, template: Path, first: engine.Run, base: Path):
        self.dir = Path(tempfile.mkdtemp(dir=base))
        copy_database(template, self.dir / "ocms.duckdb")
        self.db = Database(self.dir / "ocms.duckdb")
        self.uploader = actor(self.db, "uploader.aaa")
        self.run: engine.Run | None = first
        self.eligible = {int(i) for k in SERVICE_TEMPLATES for i in first.results[k].frame["_rec_id"]}
        self.clients = sorted(int(i) for i in first.results[CP].frame["_rec_id"])
        direct = {i for (i,) in sql(self.db, "SELECT id FROM service_forms WHERE form_type IN ('io', 'nars')")}
        self.forms = sorted(self.eligible & direct)
        self.files: dict[int, bytes] = {}
        self.rids = itertools.count(500_000)

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what the database says ---------------------------------------------------------------------------

    def live(self) -> list[tuple]:
        return sql(
            self.db,
            "SELECT r.entity, r.rec_id, r.rec_version, r.status, r.icare_record_id, b.id FROM icare_records r "
            "JOIN icare_batches b ON b.id = r.batch_id WHERE b.voided_at IS NULL AND b.agency_id = ?",
            [self.uploader.agency_id],
        )

    def versions(self) -> dict[tuple[str, int], int]:
        out = {("clients", i): v for i, v in sql(self.db, "SELECT id, version FROM clients")}
        out |= {("service_forms", i): v for i, v in sql(self.db, "SELECT id, version FROM service_forms")}
        return out

    def preview(self) -> engine.Run:
        if self.run is None:
            before = icare_state(self.db)
            self.run = engine.collect(self.db, self.uploader, MONTH)
            assert icare_state(self.db) == before
        return self.run

    # --- steps --------------------------------------------------------------------------------------------

    def final(self, _data=None):
        STEPS["final"] += 1
        run = self.preview()
        before = icare_state(self.db)
        files = workbook.export(run, "AAA", batches.worker_names(self.db, self.uploader))
        assert icare_state(self.db) == before  # a draft (preview and files) records nothing
        if not files.files:
            STEPS["final with nothing valid"] += 1
            with pytest.raises(ValidationError):
                batches.finalise(self.db, self.uploader, run, files)
            assert icare_state(self.db) == before
            return
        made = batches.finalise(self.db, self.uploader, run, files)
        assert len(made.batches) == len(files.files)
        for batch_id in made.batches:
            key, sha, count = sql(
                self.db, "SELECT template, file_sha256, row_count FROM icare_batches WHERE id = ?", [batch_id]
            )[0]
            assert sha == hashlib.sha256(files.files[key][1]).hexdigest()
            good = run.results[key].good_frame()
            assert count == len(good)
            recorded = sql(
                self.db, "SELECT rec_id, rec_version FROM icare_records WHERE batch_id = ? ORDER BY row_no", [batch_id]
            )
            assert recorded == list(zip(good["_rec_id"].astype(int), good["_rec_version"].astype(int), strict=True))
            self.files[batch_id] = files.files[key][1]
        self.run = None

    def void(self, data):
        live = sorted({b for *_r, b in self.live()})
        if not live:
            return
        STEPS["void"] += 1
        batch_id = data.draw(st.sampled_from(live), label="void")
        batches.void(self.db, self.uploader, batch_id, "iCARE rejected the file")
        assert sql(self.db, "SELECT voided_at IS NOT NULL FROM icare_batches WHERE id = ?", [batch_id]) == [(True,)]
        self.run = None

    def returned_file(self, data):
        live = sorted({b for *_r, b in self.live()} & set(self.files))
        if not live:
            return
        STEPS["returned file"] += 1
        batch_id = data.draw(st.sampled_from(live), label="returned batch")
        rows = sql(
            self.db, "SELECT row_no, rec_id, row_key FROM icare_records WHERE batch_id = ? ORDER BY row_no", [batch_id]
        )
        newest = {}  # row key -> the newest live batch holding it
        for key, held_by, _made in sorted(
            sql(
                self.db,
                "SELECT r.row_key, b.id, b.made_at FROM icare_records r JOIN icare_batches b "
                "ON b.id = r.batch_id WHERE b.voided_at IS NULL AND b.agency_id = ?",
                [self.uploader.agency_id],
            ),
            key=lambda r: r[2],
        ):
            newest[key] = held_by
        twice = {k for k, n in Counter(r[2] for r in rows).items() if n > 1}
        # rows another (newer) live batch also holds would mark that batch: leave them blank here
        mine = [r for r in rows if newest[r[2]] == batch_id and r[2] not in twice]
        chosen = data.draw(st.lists(st.sampled_from(mine), unique=True, max_size=4), label="marked") if mine else []
        accept = data.draw(st.lists(st.sampled_from(chosen), unique=True), label="accepted") if chosen else []
        details, expected = {}, {}
        for row in chosen:
            row_no, rec, _key = row
            if row in accept:
                rid = str(next(self.rids))
                details[row_no - 1] = ACCEPTED.format(rid=rid, n=row_no, m=len(rows))
                expected[rec] = ("accepted", rid)
            else:
                details[row_no - 1] = REJECTED.format(n=row_no, m=len(rows))
                expected[rec] = ("rejected", None)
        imported = batches.import_returned(self.db, self.uploader, _returned(self.files[batch_id], details))
        assert (imported.accepted, imported.rejected) == (len(accept), len(chosen) - len(accept))
        assert imported.unchanged == len(rows) - len(chosen)
        now = {
            rec: (status, rid)
            for rec, status, rid in sql(
                self.db, "SELECT rec_id, status, icare_record_id FROM icare_records WHERE batch_id = ?", [batch_id]
            )
        }
        for rec, status in expected.items():
            assert now[rec] == status
        self.run = None

    def edit_client(self, data):
        """Staff change a client's phone."""
        STEPS["edit client"] += 1
        client = data.draw(st.sampled_from(self.clients), label="client")
        phone = f"416-555-{data.draw(st.integers(0, 9999), label='phone'):04d}"
        record = clients.get(self.db, self.uploader, client)
        clients.update(self.db, self.uploader, client, {"phone": phone}, record.version)
        self.run = None

    def edit_form(self, data):
        """Staff change an answer of a direct service form."""
        STEPS["edit form"] += 1
        form_id = data.draw(st.sampled_from(self.forms), label="form")
        form = sessions.get_form(self.db, self.uploader, form_id)
        choices = [r for r in REFERRALS if r != form.values["referred_by"]]
        answer = data.draw(st.sampled_from(choices), label="answer")
        sessions.save_form(self.db, self.uploader, form_id, {"referred_by": answer}, form.version)
        self.run = None

    # --- the invariant ----------------------------------------------------------------------------------------

    def check(self):
        """The invariant, after every step."""
        live = self.live()
        held = Counter((e, rec, v) for e, rec, v, status, _rid, _b in live if status in ("sent", "accepted"))
        assert not [k for k, n in held.items() if n > 1]
        run = self.preview()
        versions = self.versions()
        good = {(r.template.entity, int(i)) for r in run.results.values() for i in r.good_frame()["_rec_id"]}
        blocked = set()
        for entity, rec, version, status, _rid, _b in live:
            changed = versions[(entity, rec)] > version
            may_return = status == "rejected" or (changed and (status == "accepted" or entity == "clients"))
            if not may_return:
                assert (entity, rec) not in good, (entity, rec, version, status)
            if entity == "service_forms" and not (status == "rejected" or (status == "accepted" and changed)):
                blocked.add(rec)
        rows = {int(i) for k in SERVICE_TEMPLATES for i in run.results[k].frame["_rec_id"]}
        assert rows == self.eligible - blocked
        # a client whose current profile no live batch holds (never sent, voided, rejected, changed) goes again
        current = {rec for entity, rec, v, status, _rid, _b in live
                   if entity == "clients" and status in ("sent", "accepted") and versions[(entity, rec)] == v}  # fmt: skip
        assert set(self.clients) - current <= {int(i) for i in run.results[CP].frame["_rec_id"]}
        accepted: dict[int, set] = {}
        for entity, rec, _v, status, rid, _b in live:
            if entity == "service_forms" and status == "accepted":
                accepted.setdefault(rec, set()).add(rid)
        for key in SERVICE_TEMPLATES:
            frame = run.results[key].frame
            for rec, rid, reason in zip(
                frame["_rec_id"], frame["update_record_id"], frame["assessment_update_reason_id"], strict=True
            ):
                if int(rec) in accepted:
                    assert (rid, reason) == (max(accepted[int(rec)]), "Amend record")
                else:
                    assert pd.isna(rid) and pd.isna(reason)


STEP_NAMES = ("final", "void", "returned_file", "edit_client", "edit_form")


def test_random_sequences_never_send_a_record_twice(property_world):
    template, first, base = property_world
    STEPS.clear()

    @settings(max_examples=6, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(order=st.permutations(STEP_NAMES), length=st.integers(3, 5), data=st.data())
    def sequence(order, length, data):
        month = Month(template, first, base)
        try:
            month.check()
            for step in ["final", *order[:length]]:  # every sequence starts from a final: batches to void, files
                getattr(month, step)(data)
                month.check()
        finally:
            month.teardown()

    sequence()
    # the sequences reached every kind of step (a property that never voids or imports proves little)
    assert {"final", "void", "returned file", "edit client", "edit form"} <= set(STEPS), STEPS
