"""Home: what nnspec shows, one live picture, one card per page, the conventions."""

from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from nnspec_app.ui import current_theme, init_state, show_chart
from nnspec_core.lab import lab_walk, settings_from_preset
from nnspec_core.lab_figures import plot_ep_walk
from nnspec_core.quadratic import PRESETS

init_state()


@st.cache_data(max_entries=2, ttl=3600, show_spinner=False)
def _home_walk():
    # heavy ball, one curvature λ = 1, β = 0.81: η sweeps across the critical-damping EP η = (1 − √β)² = 0.01
    return lab_walk(settings_from_preset("critical_damping", eigenvalues=(1.0,)), n_frames=41, span=1.6)


st.title("nnspec: why optimizers go unstable")
st.markdown(
    "One optimizer step, linearised, is a matrix **J** acting on the training state. "
    "Its eigenvalues decide whether training settles, but they do not tell the whole story: when J is "
    "non-normal, perturbations can grow a lot before they shrink, even though every eigenvalue is inside the "
    "unit circle. nnspec makes this visible with κ(V), pseudospectra, transient growth ‖Jᵏ‖ and the "
    "exceptional points where two eigenvalues and their eigenvectors merge."
)
st.caption("Below: heavy-ball momentum (β = 0.81) on a single curvature λ = 1. Press ▶: as the learning rate η "
           "sweeps past (1 − √β)² = 0.01, the two eigenvalues collide on the real axis and split into a complex "
           "pair, while κ(V) shoots up to ∞ at the collision.")  # fmt: skip
show_chart(plot_ep_walk(_home_walk(), theme=current_theme()), key="home_walk", filename="home_ep_walk")

CARDS = [
    ("app_pages/operator_lab.py", "Operator Lab", "Try this: the preset opens exactly at an exceptional point; "
     "nudge η and watch κ(V) fall from ∞ while ρ(J) barely moves.", {"preset": PRESETS["critical_damping"].title}),
    ("app_pages/operator_lab.py", "Operator Lab: transient growth", "Try this: ρ(J) < 1, yet ‖Jᵏ‖ grows about "
     "100-fold before it decays. Click the map to find a calmer point.", {"preset": PRESETS["transient"].title}),
    ("app_pages/live_training.py", "Live Training", "Try this: train a small network and watch κ(V) and ρ of the "
     "real optimizer step rise before the loss spikes.", None),
    ("app_pages/matrix_explorer.py", "Matrix Explorer", "Try this: load or paste any square matrix and compare its "
     "eigenvalues with its ε-pseudospectra.", None),
    ("app_pages/phase_study.py", "Phase Study", "Try this: run a grid of learning rates and seeds and see which "
     "indicator warns earliest of an unstable phase.", None),
]  # fmt: skip
row = st.container(horizontal=True, key="home_cards")  # cards wrap onto a new line on a narrow window
for path, label, text, params in CARDS:
    with row.container(border=True):
        st.markdown(f"**{label}**")
        st.caption(text)
        try:
            st.page_link(path, label="Open →", query_params=params)
        except StreamlitAPIException:  # page not registered (page run on its own, e.g. in a test): plain link instead
            query = "?" + urlencode(params) if params else ""
            url = "/" + path.removeprefix("app_pages/").removesuffix(".py") + query
            st.markdown(f"[Open →]({url})")

st.subheader("Conventions")
st.markdown(
    "The state is stacked with the parameters first and one step is z′ = J z: heavy ball and Nesterov in torch's "
    "buffer coordinates z = [θ; b] or history coordinates z = [θₖ; θₖ₋₁], Adam with its preconditioner M frozen, "
    "z = [θ; m]. The coordinates are part of the answer: they leave the eigenvalues unchanged but change κ(V) "
    "and the pseudospectra. κ(V) is the 2-norm condition number of the eigenvector matrix with unit columns "
    "(1 for a normal J, ∞ at an exceptional point); ε is absolute."
)
st.markdown("Everything on these pages can also be computed from the command line: see the **CLI** section of "
            "`README.md` in the repository, or run `python -m nnspec_core --help`.")  # fmt: skip
