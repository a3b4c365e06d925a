"""(placeholder: being built)."""

import streamlit as st

st.title("model")
