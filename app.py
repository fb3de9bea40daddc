"""nnspec Streamlit entry point: page config, navigation, shared sidebar, state defaults. Routing only."""

import streamlit as st

from nnspec_app.runtime import pin_threads
from nnspec_app.ui import init_state, sidebar_common

st.cache_resource(show_spinner=False)(pin_threads)()  # once per server process

st.set_page_config(page_title="nnspec", page_icon=":material/ssid_chart:", layout="wide")
init_state()

_P = "app_pages/"  # not "pages/": Streamlit would auto-route that folder and bypass st.navigation on deep links
PAGES = [
    st.Page(_P + "home.py", title="Home", icon=":material/home:", default=True, url_path="home"),
    st.Page(_P + "operator_lab.py", title="Operator Lab", icon=":material/tune:", url_path="operator_lab"),
    st.Page(_P + "live_training.py", title="Live Training", icon=":material/show_chart:", url_path="live_training"),
    st.Page(_P + "matrix_explorer.py", title="Matrix Explorer", icon=":material/grid_on:", url_path="matrix_explorer"),
    st.Page(_P + "phase_study.py", title="Phase Study", icon=":material/analytics:", url_path="phase_study"),
]

nav = st.navigation(PAGES)
sidebar_common()
nav.run()
