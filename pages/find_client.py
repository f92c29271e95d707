"""Find Client: by name, phone, e-mail, identifier, client number or comment text."""

import streamlit as st

from ocms_data import clients
from ocms_data.ui.client_form import open_profile
from ocms_data.ui.runtime import database, guard

actor = guard()
db = database()
st.title("Find client")
text = st.text_input("Name, phone, e-mail, identifier, client # or words from the comments", key="find.q")
found = clients.find(db, actor, text) if text.strip() else []
if text.strip() and not found:
    st.info("No client matches. If the client is new, register them.")
    st.page_link("pages/register_client.py", label="Register a new client", icon=":material/person_add:")
for row in found:
    c1, c2, c3, c4 = st.columns([3, 2, 3, 1], vertical_alignment="center")
    name = f"{row['first_name'] or ''} {row['last_name'] or ''}".strip() or f"Anonymous client #{row['client_no']}"
    c1.markdown(f"**{name}**  \nClient #{row['client_no']} · {row['client_type']}")
    c2.write(f"Born {row['birth_date']}" if row["birth_date"] else "")
    c3.write(" · ".join(v for v in (row["phone"], row["email"], row["family_code"]) if v))
    if c4.button("Profile", key=f"find.open.{row['id']}"):
        open_profile(row["id"])
if len(found) == 50:
    st.caption("Showing the first 50 matches; type more to narrow the search.")
