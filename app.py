"""nnspec Streamlit entry point: page config, navigation, shared sidebar, state defaults. Routing only."""

import streamlit as st

from nnspec_app.runtime import pin_threads
from nnspec_app.ui import FAVICON_SVG, init_state, sidebar_common

st.cache_resource(show_spinner=False)(pin_threads)()  # once per server process

st.set_page_config(page_title="nnspec", page_icon=FAVICON_SVG, layout="wide")
init_state()

_P = "app_pages/"  # not "pages/": Streamlit would auto-route that folder and bypass st.navigation on deep links
PAGES = [
    # served at the root URL (Streamlit ignores a default page's url_path for routing; "index" only keeps it unique)
    st.Page(_P + "home.py", title="Home", icon=":material/home:", default=True, url_path="index"),
    st.Page(_P + "operator_lab.py", title="Operator Lab", icon=":material/tune:", url_path="operator_lab"),
    st.Page(_P + "live_training.py", title="Live Training", icon=":material/show_chart:", url_path="live_training"),
    st.Page(_P + "matrix_explorer.py", title="Matrix Explorer", icon=":material/grid_on:", url_path="matrix_explorer"),
    st.Page(_P + "phase_study.py", title="Phase Study", icon=":material/analytics:", url_path="phase_study"),
]


def _home_alias() -> None:
    """/home (a natural URL for Home) opens Home at the root URL instead of "Page not found"."""
    st.switch_page(PAGES[0], query_params=st.query_params.to_dict())


ALIASES = [st.Page(_home_alias, title="Home", url_path="home", visibility="hidden")]

nav = st.navigation(PAGES + ALIASES)
sidebar_common()
nav.run()
