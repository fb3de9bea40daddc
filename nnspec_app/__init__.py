"""Streamlit-side helpers shared by the pages (widgets, layout, caching). No numerics live here."""
