"""Live Training: a small network trains while its update operator's spectrum, pseudospectra and κ(V) move.

Widgets (sidebar, bound to the URL) → TrainConfig → Trainer in session state, stepped by
``nnspec_core.live.advance`` in a fragment that reruns every second while the run is live → figures
from ``nnspec_core.live`` → ``show_chart``. The Step and "Run to the end" buttons use the same path.
"""

import streamlit as st

from nnspec_app import live_ui
from nnspec_app.runtime import warm_up
from nnspec_app.ui import init_state, user_errors
from nnspec_core.training import TrainConfig

st.set_page_config(layout="wide")  # the entry point's layout does not reach pages in Streamlit 1.67
init_state()
st.cache_resource(show_spinner=False)(warm_up)()  # torch.optim's slow first load, in the background, once
live_ui.init_run_state()
st.title("Live Training")
st.caption(
    "Pick a data set, a network and an optimizer, press ▶ Start and watch: the loss (left, top), the "
    "indicators κ(V), ρ(J) and the sharpness (left, bottom) and, for the selected step, the eigenvalues "
    "of the update operator J with their ε-pseudospectra and the transient growth ‖Jᵏ‖ (right), then the "
    "network's fit and a summary in words (below). Every analysed step t looks at J, the Jacobian of one real "
    "torch.optim step at θₜ. Click a step on the left to inspect it."
)
run_box = st.sidebar.container()  # filled below, once the settings are read: Start stays at the top
kwargs = live_ui.sidebar_controls()
with user_errors():
    cfg = TrainConfig(**kwargs)
live_ui.run_buttons(cfg, run_box)
live_ui.settings_notice(cfg)
live_ui.live_panel()
