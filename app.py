"""OCMS Lite entry point for `streamlit run app.py`: the page script and its login routes."""

import streamlit as st

from ocms_data.ui import server, shell

if __name__ == "__main__":
    shell.main()
else:
    app = st.App(__file__, routes=server.routes())
