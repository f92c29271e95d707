"""The only Streamlit-importing part of the package: screens, widgets, the grid wrapper."""
