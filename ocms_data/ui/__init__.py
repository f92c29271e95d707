"""The only Streamlit-importing part of the package: screens, widgets, the grid wrapper.

`screens/` holds what each page shows (pages/ only call them). Beside it: the widgets screens share
(`forms`, the form renderer; `grid`, the one aggrid wrapper; `grid_view`, a page's grid; `widgets`; `text`),
and the app's plumbing (`runtime`: the database, the signed-in user, guards, notices; `shell`: navigation
and sign-in; `server`: the login routes).
"""
