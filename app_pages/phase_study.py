"""Phase Study: does κ(V) separate stable from unstable training phases, and does ρ(J) not?

Widgets (bound to the URL) → StudyConfig → ``nnspec_core.studies.run_study`` (runs cached on disk under the
studies root, so a cancelled study resumes) or a finished study from the server-side list →
``nnspec_core.studies`` tables and figures → ``show_chart``.
"""

import streamlit as st

from nnspec_app import study_ui
from nnspec_app.ui import init_state

st.set_page_config(layout="wide")  # the entry point's layout does not reach pages in Streamlit 1.67
init_state()
study_ui.init_study_state()
st.title("Phase Study")
st.caption(
    "The seed paper claims that on two-layer networks the spectral radius ρ(J) of the update operator does not "
    "tell stable from unstable training phases apart, while the eigenvector condition number κ(V) separates "
    "them by about 10×. A study trains many small networks (optimizers × learning rates around the stability "
    "edge × seeds), labels every window of steps stable or unstable from the loss curve alone, and measures "
    "how well each indicator separates the two, with confidence intervals over whole runs."
)
source = st.radio("Study", ["Run a preset", "Open a finished study"], horizontal=True, key="ps_source",
                  bind="query-params")  # fmt: skip
if source == "Run a preset":
    config = study_ui.grid_controls()
    study_ui.run_section(config)
else:
    study_ui.load_section()
result = study_ui.loaded_study()
if result is None:
    st.info("Run a study (the **tiny** preset takes seconds) or open a finished one to see the results.")
    st.stop()
figs = study_ui.views(result)
study_ui.export_section(result, figs)
