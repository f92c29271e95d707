"""OCMS Lite entry point for `streamlit run app.py`: the page script and its login routes."""

import streamlit as st

from ocms_data import config
from ocms_data.ui import server, shell

config.private_files()
if __name__ == "__main__":
    shell.main()
else:
    app = st.App(__file__, routes=server.routes(), middleware=server.middleware())
